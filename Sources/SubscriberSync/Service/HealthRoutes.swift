import Hummingbird

/// `/healthz` (the process answers) and `/readyz` (callbacks' commits succeed, a probe commits,
/// and the emitter keeps up), for load balancers and orchestrators.
enum HealthRoutes {
    /// Events older than this still waiting in the outbox make the service not ready.
    static let maxEmitterLagMilliseconds: Int64 = 10_000

    static func addLiveness(to router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in json(.ok, #"{"status":"ok"}"#) }
    }

    static func add(to router: Router<BasicRequestContext>, storage: any SubscriberStorage, commits: CommitHealth, clock: any WallClock) {
        addLiveness(to: router)
        router.get("/readyz") { _, _ in
            // Callbacks failing now: no probe needed (a small probe may fit where they do not).
            if commits.isFailing {
                return json(.serviceUnavailable, #"{"status":"not ready","reason":"callbacks cannot be committed"}"#)
            }
            do {
                try await storage.checkWritable()
                let oldest = try await storage.emitterProgress().oldestPendingRecordedAt
                if let oldest, clock.nowMilliseconds() - oldest > maxEmitterLagMilliseconds {
                    return json(.serviceUnavailable, #"{"status":"not ready","reason":"event emitter is behind"}"#)
                }
                return json(.ok, #"{"status":"ready"}"#)
            } catch {
                return json(.serviceUnavailable, #"{"status":"not ready","reason":"database is not writable"}"#)
            }
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
