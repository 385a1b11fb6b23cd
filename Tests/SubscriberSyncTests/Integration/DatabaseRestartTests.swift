import Foundation
import Testing
@testable import SubscriberSync

/// PostgreSQL goes away and comes back under load: callbacks get 503 meanwhile (never a 200 that
/// was not committed), `/readyz` says so, and the replica reconnects by itself.
@Suite("Integration: PostgreSQL restart", .timeLimit(.minutes(10)))
struct IntegrationDatabaseRestartTests {
    @Test("the database stops and restarts under load: 503 meanwhile, reconnected without a restart, nothing acknowledged lost")
    func databaseRestartUnderLoad() async throws {
        try await HeavyTests.oneAtATime { try await withSandbox { sandbox in
            let server = try await ThrowawayPostgres.start()
            do {
                try await Self.run(sandbox, server)
                await server.destroy()
            } catch {
                await server.destroy()
                throw error
            }
        } }
    }

    static func run(_ sandbox: Sandbox, _ server: ThrowawayPostgres) async throws {
        var configuration = ServeConfiguration(events: "events.jsonl")
        configuration.databaseURL = server.url
        let service = try await sandbox.startService(configuration, name: "replica")
        let recorder = LoadRecorder()
        try await withHTTPClient { client in
            let callbacks = service.callbacks(client: client)
            async let load: Void = CallbackLoad.run(callbacks: callbacks, clients: 8, prefix: "restart-", recorder: recorder)
            #expect(await waitUntil(timeout: .seconds(30)) { recorder.acknowledgedSubscribers.count >= 200 }, "the load did not get going")

            try await server.control("stop")
            let refusedBefore = recorder.refusals.load(ordering: .relaxed)
            #expect(await waitUntil(timeout: .seconds(15)) { recorder.refusals.load(ordering: .relaxed) > refusedBefore },
                    "no callback was refused while the database was down")
            #expect(await waitUntil(timeout: .seconds(15)) { (try? await callbacks.get("/readyz").status) == 503 },
                    "/readyz did not turn 503 while the database was down")
            #expect(try await callbacks.get("/healthz").status == 200, "the process is alive")

            try await server.control("start")
            #expect(await waitUntil(timeout: .seconds(30)) { (try? await callbacks.get("/readyz").status) == 200 },
                    "/readyz did not come back once the database did")
            let more = recorder.acknowledgedSubscribers.count + 200
            #expect(await waitUntil(timeout: .seconds(30)) { recorder.acknowledgedSubscribers.count >= more },
                    "callbacks were not acknowledged again after the database came back")

            try await server.control("restart")
            let evenMore = recorder.acknowledgedSubscribers.count + 200
            #expect(await waitUntil(timeout: .seconds(30)) { recorder.acknowledgedSubscribers.count >= evenMore },
                    "callbacks were not acknowledged again after a restart")
            recorder.stop()
            await load
        }
        #expect(try await service.terminate() == .exited(0), "\(service.stderrText())")
        #expect(recorder.connectionErrors.load(ordering: .relaxed) == 0, "the service itself never went away")

        // Every 200 was committed: the store and the event stream have every acknowledged subscriber.
        let acknowledged = Set(recorder.acknowledgedSubscribers)
        let export = try await ExportRun.run(databasePath: server.url, account: nil, in: sandbox.directory, name: "export")
        #expect(export.exit == .exited(0), "export: \(export.stderr)")
        let exported = Set(try export.records().compactMap(\.subscriber))
        let lost = acknowledged.subtracting(exported)
        #expect(lost.isEmpty, "\(lost.count) acknowledged subscribers are not stored: \(lost.sorted().prefix(10))")
        let (unique, _, mismatched) = EventFile.deduplicated(EventFile.events(service.eventsPath))
        #expect(mismatched.isEmpty)
        #expect(unique.map(\.sequence).sorted() == oneThrough(unique.count))
        let unemitted = acknowledged.subtracting(Set(unique.filter(\.isSubscribed).compactMap(\.subject)))
        #expect(unemitted.isEmpty, "\(unemitted.count) acknowledged subscribers have no event")
        print("database restart test: \(acknowledged.count) acknowledged, \(recorder.refusals.load(ordering: .relaxed)) refused while down")
    }
}
