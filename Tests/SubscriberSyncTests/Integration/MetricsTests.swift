import Foundation
import Testing

/// `/metrics` of the real executable, on the callback listener and on `--metrics-listen`.
@Suite("Integration: metrics", .timeLimit(.minutes(5)))
struct IntegrationMetricsTests {
    static let t0 = IntegrationDefaults.baseEventTime

    func value(_ metrics: String, _ series: String) -> Double? {
        metrics.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test("callbacks, latency, subscribers and events written are exported", arguments: StorageEngine.allCases)
    func metricsOnTheCallbackListener(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let service = try await sandbox.startService()
            let callbacks = service.callbacks()
            #expect(try await callbacks.subscribe(["a", "b", "c"], eventTime: Self.t0).isOK)
            #expect(try await callbacks.subscribe(["a"], eventTime: Self.t0).isOK)
            let forged = CallbackClient(baseURL: service.baseURL, sdkAppID: IntegrationDefaults.sdkAppID, token: "wrong", client: .shared)
            #expect(try await forged.subscribe(["x"], eventTime: Self.t0).status == 401)
            #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(service.eventsPath).count == 3 })

            var metrics = ""
            #expect(await waitUntil(timeout: .seconds(20)) {
                metrics = (try? await callbacks.get("/metrics").body) ?? ""
                // The checkpoint moves after the write: the lag is 0 only once it has.
                return self.value(metrics, "subscriber_sync_events_written_total") == 3
                    && self.value(metrics, "subscriber_sync_emitter_lag_events") == 0
            }, "\(metrics)")
            let add = "command=\"OfficialAccount.CallbackAfterAddSubscriber\""
            #expect(value(metrics, "subscriber_sync_callbacks_total{\(add),outcome=\"accepted\"}") == 1, "\(metrics)")
            #expect(value(metrics, "subscriber_sync_callbacks_total{\(add),outcome=\"duplicate_or_stale\"}") == 1)
            #expect(value(metrics, "subscriber_sync_callbacks_total{\(add),outcome=\"refused_bad_signature\"}") == 1)
            #expect(value(metrics, "subscriber_sync_callback_duration_seconds_count") == 3)
            #expect(value(metrics, "subscriber_sync_subscribers{account=\"\(IntegrationDefaults.account)\"}") == 3)
            #expect(value(metrics, "subscriber_sync_emitter_lag_events") == 0)
        }
    }

    @Test("--metrics-listen moves /metrics and /readyz off the callback port", arguments: StorageEngine.allCases)
    func separateListener(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let service = try await sandbox.startService(ServeConfiguration(extraArguments: ["--metrics-listen", "127.0.0.1:0"]))
            var metricsPort: Int?
            #expect(await waitUntil(timeout: .seconds(20)) {
                let text = service.stderrText()
                guard let range = text.range(of: "metrics served on 127.0.0.1:") else { return false }
                metricsPort = Int(text[range.upperBound...].prefix(while: \.isNumber))
                return metricsPort != nil
            })
            let port = try #require(metricsPort)
            #expect(port != service.port)
            let callbacks = service.callbacks()
            #expect(try await callbacks.subscribe(["a"], eventTime: Self.t0).isOK)
            let side = CallbackClient(baseURL: "http://127.0.0.1:\(port)", sdkAppID: IntegrationDefaults.sdkAppID, token: nil, client: .shared)
            let metrics = try await side.get("/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("subscriber_sync_callbacks_total"))
            #expect(try await side.get("/readyz").status == 200)
            #expect(try await side.get("/healthz").status == 200)
            #expect(try await callbacks.get("/metrics").status == 404)
            #expect(try await callbacks.get("/readyz").status == 404)
            #expect(try await callbacks.get("/healthz").status == 200)
        }
    }
}
