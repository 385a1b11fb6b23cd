import Foundation
import Testing
@testable import SubscriberSync

/// PostgreSQL goes away and comes back under load, under two replicas that also run the reconcile
/// schedule: callbacks get 503 meanwhile (never a 200 that was not committed), `/readyz` says so,
/// each replica reconnects by itself, and the findings of the replica test hold: nothing
/// acknowledged lost, one gapless sequence, emission back within 10 s, passes never overlapping.
@Suite("Integration: PostgreSQL restart", .timeLimit(.minutes(10)))
struct IntegrationDatabaseRestartTests {
    static let reconciled = "@TOA#_restarted"

    @Test("the database stops and restarts under load: 503 meanwhile, reconnected without a restart, nothing acknowledged lost, emission back within 10 s, passes never overlap")
    func databaseRestartUnderLoad() async throws {
        try await HeavyTests.oneAtATime { try await withSandbox { sandbox in
            try await ThrowawayPostgres.with { try await Self.run(sandbox, $0) }
        } }
    }

    static func run(_ sandbox: Sandbox, _ server: ThrowawayPostgres) async throws {
        let harness = try await SimulatorHarness()
        harness.simulator.createAccount(Self.reconciled)
        harness.simulator.seed(account: Self.reconciled, count: 300, prefix: "listed-")
        func replica(_ name: String) -> ServeConfiguration {
            var configuration = ServeConfiguration(events: "events-\(name).jsonl")
            configuration.databaseURL = server.url
            configuration.environment[ServiceSettings.secretKeyEnvironment] = SimulatorHarness.key
            configuration.extraArguments = ["--api-base-url", harness.baseURL, "--official-account", Self.reconciled,
                                            "--reconcile-interval", "2s"]
            return configuration
        }
        let replicas = [try await sandbox.startService(replica("a"), name: "a"), try await sandbox.startService(replica("b"), name: "b")]
        let recorder = LoadRecorder()
        var outages: [Int64] = []
        var resumedAfter = Duration.zero
        try await withHTTPClient { client in
            let balancer = IntegrationReplicaFailoverTests.Balancer(replicas, client: client)
            let observed = replicas.map { $0.callbacks(client: client) }
            async let load: Void = CallbackLoad.run(target: { balancer.target($0) }, clients: 8, prefix: "restart-", recorder: recorder)
            #expect(await waitUntil(timeout: .seconds(30)) { recorder.acknowledgedSubscribers.count >= 200 }, "the load did not get going")

            outages.append(SystemWallClock().nowMilliseconds())
            try await server.control("stop")
            let refusedBefore = recorder.refusals.load(ordering: .relaxed)
            #expect(await waitUntil(timeout: .seconds(15)) { recorder.refusals.load(ordering: .relaxed) > refusedBefore },
                    "no callback was refused while the database was down")
            for callbacks in observed {
                #expect(await waitUntil(timeout: .seconds(15)) { (try? await callbacks.get("/readyz").status) == 503 },
                        "/readyz did not turn 503 while the database was down")
                #expect(try await callbacks.get("/healthz").status == 200, "the process is alive")
            }

            try await server.control("start")
            for callbacks in observed {
                #expect(await waitUntil(timeout: .seconds(30)) { (try? await callbacks.get("/readyz").status) == 200 },
                        "/readyz did not come back once the database did")
            }
            let more = recorder.acknowledgedSubscribers.count + 200
            #expect(await waitUntil(timeout: .seconds(30)) { recorder.acknowledgedSubscribers.count >= more },
                    "callbacks were not acknowledged again after the database came back")

            outages.append(SystemWallClock().nowMilliseconds())
            try await server.control("restart")
            let back = ContinuousClock.now
            let before = Self.newestSequence(sandbox)
            let resumed = await waitUntil(timeout: .seconds(15), interval: .milliseconds(100)) { Self.newestSequence(sandbox) > before }
            let elapsed = ContinuousClock.now - back
            resumedAfter = elapsed
            #expect(resumed && elapsed < .seconds(10) + .milliseconds(500), "emission resumed \(elapsed) after the database (newest before: \(before))")
            let evenMore = recorder.acknowledgedSubscribers.count + 200
            #expect(await waitUntil(timeout: .seconds(30)) { recorder.acknowledgedSubscribers.count >= evenMore },
                    "callbacks were not acknowledged again after a restart")
            recorder.stop()
            await load
        }
        for replica in replicas {
            #expect(try await replica.terminate() == .exited(0), "\(replica.name): \(replica.stderrText())")
        }
        #expect(recorder.connectionErrors.load(ordering: .relaxed) == 0, "the replicas themselves never went away")
        let statuses = recorder.refusalStatuses.withLock { $0 }
        #expect(Set(statuses.keys) == [503], "refusals while the database was away are 503, nothing else: \(statuses)")

        // Every 200 was committed: the store and the merged event stream have every acknowledged subscriber.
        let acknowledged = Set(recorder.acknowledgedSubscribers)
        let export = try await ExportRun.run(databasePath: server.url, account: nil, in: sandbox.directory, name: "export")
        #expect(export.exit == .exited(0), "export: \(export.stderr)")
        let exported = Set(try export.records().compactMap(\.subscriber))
        let lost = acknowledged.subtracting(exported)
        #expect(lost.isEmpty, "\(lost.count) acknowledged subscribers are not stored: \(lost.sorted().prefix(10))")
        let events = ["a", "b"].flatMap { EventFile.events(sandbox.path("events-\($0).jsonl")) }
        let (unique, _, mismatched) = EventFile.deduplicated(events)
        #expect(mismatched.isEmpty)
        #expect(unique.map(\.sequence).sorted() == oneThrough(unique.count))
        let unemitted = acknowledged.subtracting(Set(unique.filter(\.isSubscribed).compactMap(\.subject)))
        #expect(unemitted.isEmpty, "\(unemitted.count) acknowledged subscribers have no event")

        // Passes ran, and never two at once over one account: a pass the outage cut short (its
        // end never recorded) ends when the database went away.
        let scans = try await Self.scans(server)
        // At least one: on a slow machine the whole test can fit in one reconcile interval, and a
        // pass that an outage cut short keeps the lease until it runs out (30 s).
        #expect(scans.contains { $0.account == Self.reconciled }, "no pass ran: \(scans)")
        let overlaps = IntegrationReplicaFailoverTests.overlaps(scans, kills: outages)
        #expect(overlaps.isEmpty, "overlapping passes: \(overlaps)")
        print("database restart test: \(acknowledged.count) acknowledged, \(statuses) refused while down, emission back \(resumedAfter) after the restart, \(scans.count) passes")
    }

    static func scans(_ server: ThrowawayPostgres) async throws -> [IntegrationReplicaFailoverTests.Scan] {
        guard case .postgres(let location) = try StorageLocation.parse(server.url) else {
            throw IntegrationError("\(server.url) is not a PostgreSQL URL")
        }
        return try await IntegrationReplicaFailoverTests.scans(on: location)
    }

    static func newestSequence(_ sandbox: Sandbox) -> Int64 {
        ["a", "b"].flatMap { EventFile.events(sandbox.path("events-\($0).jsonl")).map(\.sequence) }.max() ?? 0
    }
}
