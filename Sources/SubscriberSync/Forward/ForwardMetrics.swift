import Metrics

/// The relay's metrics. Targets are the configured URLs' display names (`ForwardRule.displayName`),
/// a bounded set; outcomes and results are fixed words.
struct ForwardMetrics: Sendable {
    /// Counters made once per label set: making one looks it up in the backend's registry under a lock.
    private let counters = BoundedCache<String, Counter>(capacity: 512)
    private let delay = Timer(label: ForwardMetricNames.delay)

    private func counter(_ label: String, target: String, _ name: String, _ value: String) -> Counter {
        let key = label + "\u{0}" + target + "\u{0}" + value
        if let counter = counters.lookup(key) { return counter }
        let counter = Counter(label: label, dimensions: [("target", target), (name, value)])
        counters.remember(key, counter)
        return counter
    }

    func delivered(target: String, result: String, count: Int = 1) {
        counter("subscriber_sync_forward_deliveries_total", target: target, "result", result).increment(by: count)
    }

    func delayed(milliseconds: Int64) {
        delay.recordNanoseconds(max(0, milliseconds) * 1_000_000)
    }

    func before(target: String, outcome: BeforeCallbackRelay.Outcome) {
        counter("subscriber_sync_forward_before_total", target: target, "outcome", outcome.rawValue).increment()
    }

    func queue(_ summary: ForwardTargetSummary) {
        let target = ForwardRule.displayName(summary.target)
        Gauge(label: "subscriber_sync_forward_pending", dimensions: [("target", target)]).record(summary.pending)
        Gauge(label: "subscriber_sync_forward_dead", dimensions: [("target", target)]).record(summary.dead)
    }
}

/// Metric names the composition root configures (histogram buckets).
public enum ForwardMetricNames {
    public static let delay = "subscriber_sync_forward_delay_seconds"
}
