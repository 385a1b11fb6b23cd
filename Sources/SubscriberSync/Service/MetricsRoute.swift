import GRDB
import Hummingbird
import Metrics
import Prometheus

/// `/metrics` in Prometheus text format. Gauges that describe the store (subscribers per account,
/// emitter lag) are read from the database at scrape time rather than kept up to date on the
/// callback path.
enum MetricsRoute {
    static func add(to router: Router<BasicRequestContext>, registry: PrometheusCollectorRegistry, database: DatabasePool) {
        router.get("/metrics") { _, _ in
            do {
                let (counts, lag) = try await database.read { db in
                    let counts = try Row.fetchAll(db, sql: """
                        SELECT a.account, COUNT(s.subscriber) FROM accounts a
                        LEFT JOIN subscribers s ON s.account = a.account AND s.subscribed = 1
                        GROUP BY a.account
                        """).map { ($0[0] as String, $0[1] as Int) }
                    return (counts, try EventOutbox.newestSequence(in: db) - EventOutbox.checkpoint(in: db))
                }
                for (account, count) in counts {
                    Gauge(label: "subscriber_sync_subscribers", dimensions: [("account", account)]).record(count)
                }
                Gauge(label: "subscriber_sync_emitter_lag_events").record(lag)
            } catch {
                Counter(label: "subscriber_sync_metrics_errors_total").increment()
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}
