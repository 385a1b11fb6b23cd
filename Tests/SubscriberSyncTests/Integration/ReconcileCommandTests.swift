import Foundation
import Testing
import TencentSimulator
@testable import SubscriberSync

/// `subscriber-sync reconcile` (a child process) and serve's periodic loop, against the simulator
/// served over loopback.
@Suite("Integration: reconcile command", .timeLimit(.minutes(5)))
struct IntegrationReconcileCommandTests {
    let account = "@TOA#_recon"

    func reconcile(_ harness: SimulatorHarness, sandbox: Sandbox, events: String? = "reconcile-events.jsonl", extra: [String] = []) async throws -> ReconcileRun {
        try await ReconcileRun.run(harness, sandbox: sandbox, accounts: [account], events: events, extra: extra)
    }

    func harness(subscribers: Int) async throws -> SimulatorHarness {
        let harness = try await SimulatorHarness()
        harness.simulator.createAccount(account)
        harness.simulator.seed(account: account, count: subscribers, prefix: "r")
        return harness
    }

    @Test("exit 0 when applied, 1 when a listing fails, 2 when removals are held; events emitted with --events", arguments: StorageEngine.allCases)
    func exitCodes(engine: StorageEngine) async throws {
        let h = try await harness(subscribers: 300)
        try await withSandbox(engine: engine) { sandbox in
            let applied = try await reconcile(h, sandbox: sandbox)
            #expect(applied.status == 0, "\(applied.stderr)")
            #expect(try await sandbox.export().records().count == 300)
            let events = EventFile.events(sandbox.path("reconcile-events.jsonl"))
            #expect(events.count == 301, "300 subscribed and one reconcile.completed")
            #expect(events.last?.type == "io.subscriber-sync.reconcile.completed")
            #expect(!applied.stderr.contains(SimulatorHarness.key), "the secret key never reaches the logs")

            h.simulator.inject(.httpStatus(502), times: 1000)
            let failed = try await reconcile(h, sandbox: sandbox, extra: ["--api-max-attempts", "2"])
            #expect(failed.status == 1, "\(failed.stderr)")
            #expect(EventFile.events(sandbox.path("reconcile-events.jsonl")).last?.type == "io.subscriber-sync.reconcile.failed")
            #expect(try await sandbox.export().records().count == 300)
            h.simulator.clearFaults()

            h.simulator.setSubscribers(account: account, [])
            let held = try await reconcile(h, sandbox: sandbox)
            #expect(held.status == 2, "\(held.stderr)")
            #expect(try await sandbox.export().records().count == 300)
            let types = EventFile.events(sandbox.path("reconcile-events.jsonl")).suffix(2).map(\.type)
            #expect(types == ["io.subscriber-sync.reconcile.held", "io.subscriber-sync.reconcile.completed"])

            let allowed = try await reconcile(h, sandbox: sandbox, extra: ["--allow-mass-removal"])
            #expect(allowed.status == 0, "two empty listings in a row, guard lifted: \(allowed.stderr)")
            #expect(try await sandbox.export().records().isEmpty)
        }
    }

    @Test("beside a running serve: its events go through the outbox and serve emits them", arguments: StorageEngine.allCases)
    func besideServe(engine: StorageEngine) async throws {
        let h = try await harness(subscribers: 250)
        try await withSandbox(engine: engine) { sandbox in
            let service = try await sandbox.startService(ServeConfiguration(extraArguments: ["--reconcile-interval", "0"]))
            let run = try await reconcile(h, sandbox: sandbox)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stderr.contains("another process (serve) holds the event emitter"), "\(run.stderr)")
            #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(service.eventsPath).count == 251 })
            #expect(EventFile.events(sandbox.path("reconcile-events.jsonl")).isEmpty)
            let sequences = EventFile.events(service.eventsPath).map(\.sequence)
            #expect(sequences == oneThrough(251))
        }
    }

    @Test("serve runs passes periodically with the same code path", arguments: StorageEngine.allCases)
    func periodicLoop(engine: StorageEngine) async throws {
        let h = try await harness(subscribers: 120)
        try await withSandbox(engine: engine) { sandbox in
            let keyFile = sandbox.path("secret.key")
            try SimulatorHarness.key.write(toFile: keyFile, atomically: true, encoding: .utf8)
            let service = try await sandbox.startService(ServeConfiguration(extraArguments: [
                "--secret-key-file", keyFile, "--api-base-url", h.baseURL, "--official-account", account, "--reconcile-interval", "1s",
            ]))
            #expect(await waitUntil(timeout: .seconds(30)) {
                EventFile.events(service.eventsPath).filter { $0.type == "io.subscriber-sync.reconcile.completed" }.count >= 2
            }, "\(service.stderrText())")
            #expect(try await sandbox.export().records().count == 120)
            #expect(service.stderrText().contains("reconcile pass completed"))
        }
    }
}
