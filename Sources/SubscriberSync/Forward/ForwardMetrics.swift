import Metrics

/// The relay's metrics. Targets are the configured URLs' display names (`ForwardRule.displayName`),
/// a bounded set; outcomes and results are fixed words.
struct ForwardMetrics: Sendable {

    private let deliveries = BoundedCache<String, Counter>(capacity: 256)
    private let before = BoundedCache<String, Counter>(capacity: 256)
    private let delay = Timer(label: ForwardMetricNames.delay)

    func delivered(target: String, result: String, count: Int = 1) {
        let key = target + "\u{0}" + result
        let counter = deliveries.lookup(key) ?? {
            let counter = Counter(label: "subscriber_sync_forward_deliveries_total", dimensions: [("target", target), ("result", result)])
            deliveries.remember(key, counter)
            return counter
        }()
        counter.increment(by: count)
    }

    func delayed(milliseconds: Int64) {
        delay.recordNanoseconds(max(0, milliseconds) * 1_000_000)
    }

    func before(target: String, outcome: BeforeCallbackRelay.Outcome) {
        let key = target + "\u{0}" + outcome.rawValue
        let counter = before.lookup(key) ?? {
            let counter = Counter(label: "subscriber_sync_forward_before_total", dimensions: [("target", target), ("outcome", outcome.rawValue)])
            before.remember(key, counter)
            return counter
        }()
        counter.increment()
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
