import Hummingbird
import Metrics
import Prometheus

/// `/metrics` in Prometheus text format. Gauges that describe the store (subscribers per account,
/// emitter lag) are read from the database at scrape time rather than kept up to date on the
/// callback path.
enum MetricsRoute {
    static func add(to router: Router<BasicRequestContext>, registry: PrometheusCollectorRegistry, storage: any SubscriberStorage) {
        router.get("/metrics") { _, _ in
            do {
                let counts = try await storage.subscriberCounts()
                let lag = try await storage.emitterProgress().lag
                for (account, count) in counts {
                    Gauge(label: "subscriber_sync_subscribers", dimensions: [("account", account)]).record(count)
                }
                Gauge(label: "subscriber_sync_emitter_lag_events").record(lag)
                if let oldest = try await storage.oldestRetainedSequence() {
                    Gauge(label: "subscriber_sync_outbox_oldest_sequence").record(oldest)
                }
            } catch {
                Counter(label: "subscriber_sync_metrics_errors_total").increment()
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}
