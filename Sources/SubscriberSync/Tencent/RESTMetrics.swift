import Metrics

/// `subscriber_sync_rest_calls_total`, by command and result: `0` for an answer, else the label of
/// the failure.
enum RESTMetrics {
    static func record(command: String, result: String) {
        Counter(label: "subscriber_sync_rest_calls_total", dimensions: [("command", command), ("result", result)]).increment()
    }
}

extension TencentCallError {
    /// The `result` label of a failed call.
    var metricLabel: String {
        switch kind {
        case .network: "network"
        case .timeout: "timeout"
        case .httpStatus(let status): "http_\(status)"
        case .unparseable: "unparseable"
        case .tencent(let code): String(code)
        case .shutdown: "cancelled"
        }
    }
}
