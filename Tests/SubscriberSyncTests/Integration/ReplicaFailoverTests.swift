import Foundation
import AsyncHTTPClient
import PostgresNIO
import Synchronization
import Testing
@testable import SubscriberSync
#if canImport(Glibc)
import Glibc
#endif

/// Several `serve` replicas on one PostgreSQL database behind a (simulated) load balancer, each
/// SIGKILLed in turn under concurrent callbacks, while they also run the reconcile schedule.
@Suite("Integration: replicas on PostgreSQL", .timeLimit(.minutes(10)))
struct IntegrationReplicaFailoverTests {
    static let reconciled = "@TOA#_replicas"

    /// The replicas a balancer sends to, in turn; a replaced replica takes the dead one's place.
    final class Balancer: Sendable {
        private let targets: Mutex<[CallbackClient]>
        init(_ services: [ServiceProcess], client: HTTPClient) {
            targets = Mutex(services.map { $0.callbacks(client: client) })
        }
        func target(_ n: Int) -> CallbackClient { targets.withLock { $0[n % $0.count] } }
        func replace(_ index: Int, with service: ServiceProcess, client: HTTPClient) {
            targets.withLock { $0[index] = service.callbacks(client: client) }
        }
    }

    @Test("two replicas under load, each SIGKILLed in turn: nothing acknowledged is lost, one gapless sequence, emission resumes within 10 s, passes never overlap")
    func killEachReplicaInTurn() async throws {
        try await HeavyTests.oneAtATime { try await withSandbox(engine: .postgres) { sandbox in
            let harness = try await SimulatorHarness()
            harness.simulator.createAccount(Self.reconciled)
            harness.simulator.seed(account: Self.reconciled, count: 300, prefix: "listed-")
            func replica(_ name: String) -> ServeConfiguration {
                var configuration = ServeConfiguration(events: "events-\(name).jsonl")
                configuration.environment[ServiceSettings.secretKeyEnvironment] = SimulatorHarness.key
                configuration.extraArguments = ["--api-base-url", harness.baseURL, "--official-account", Self.reconciled,
                                                "--reconcile-interval", "2s"]
                return configuration
            }
            var replicas = [try await sandbox.startService(replica("a"), name: "a"), try await sandbox.startService(replica("b"), name: "b")]
            let recorder = LoadRecorder()
            var kills: [(at: Int64, pid: Int32)] = []
            try await withHTTPClient { client in
                let balancer = Balancer(replicas, client: client)
                async let load: Void = CallbackLoad.run(target: { balancer.target($0) }, clients: 8, prefix: "replica-", recorder: recorder)
                let loaded = await waitUntil(timeout: .seconds(30)) { recorder.acknowledgedSubscribers.count >= 200 }
                #expect(loaded, "the load did not get going: \(recorder.acknowledgedSubscribers.count) acknowledged")

                for _ in 0..<2 {
                    // Kill whichever replica emits, so that the other must take over.
                    let holder = try await Self.emitterHolderPID(sandbox)
                    let index = try #require(replicas.firstIndex { $0.pid == holder }, "the lease holder \(String(describing: holder)) is a replica")
                    let before = Self.newestSequence(sandbox)
                    await replicas[index].kill()
                    let killedAt = ContinuousClock.now
                    kills.append((SystemWallClock().nowMilliseconds(), holder ?? 0))
                    let survivor = replicas[1 - index]
                    let resumed = await waitUntil(timeout: .seconds(13), interval: .milliseconds(100)) {
                        (EventFile.events(survivor.eventsPath).map(\.sequence).max() ?? 0) > before
                    }
                    let elapsed = ContinuousClock.now - killedAt
                    #expect(resumed && elapsed < .seconds(10) + .milliseconds(500),
                            "emission resumed after \(elapsed) (newest before the kill: \(before))")
                    let more = recorder.acknowledgedSubscribers.count + 100
                    #expect(await waitUntil(timeout: .seconds(20)) { recorder.acknowledgedSubscribers.count >= more },
                            "the survivor did not keep taking callbacks")
                    // The replacement starts on the same host's events file, as a restarted unit would.
                    let name = index == 0 ? "a" : "b"
                    replicas[index] = try await sandbox.startService(replica(name), name: name)
                    balancer.replace(index, with: replicas[index], client: client)
                }
                let more = recorder.acknowledgedSubscribers.count + 100
                #expect(await waitUntil(timeout: .seconds(20)) { recorder.acknowledgedSubscribers.count >= more })
                // Passes ran (a slow machine could otherwise stop the load within one interval).
                #expect(await waitUntil(timeout: .seconds(60), interval: .milliseconds(500)) {
                    ((try? await Self.scans(sandbox)) ?? []).filter { $0.account == Self.reconciled && $0.ran }.count >= 2
                }, "fewer than two passes completed")
                recorder.stop()
                await load
            }
            for replica in replicas {
                #expect(try await replica.terminate() == .exited(0), "\(replica.name): \(replica.stderrText())")
            }
            #expect(recorder.refusals.load(ordering: .relaxed) == 0, "callbacks were refused (not just cut off by a kill)")

            // Every acknowledged subscriber is stored.
            let acknowledged = Set(recorder.acknowledgedSubscribers)
            let export = try await sandbox.export()
            #expect(export.exit == .exited(0), "export: \(export.stderr)")
            let exported = Set(try export.records().compactMap(\.subscriber))
            let lost = acknowledged.subtracting(exported)
            #expect(lost.isEmpty, "\(lost.count) acknowledged subscribers are not stored: \(lost.sorted().prefix(10))")

            // The merged event files: each sequence names one event, 1...N without a gap, and
            // every acknowledged subscriber has its event.
            let events = ["a", "b"].flatMap { EventFile.events(sandbox.path("events-\($0).jsonl")) }
            let (unique, repeats, mismatched) = EventFile.deduplicated(events)
            #expect(mismatched.isEmpty, "re-emitted events differ: \(mismatched.prefix(5))")
            #expect(Set(unique.map(\.sequence)).count == unique.count, "a sequence names two events")
            #expect(unique.map(\.sequence).sorted() == oneThrough(unique.count),
                    "sequences are not 1...\(unique.count): \(IntegrationCrashRecoveryTests.anomalies(unique.map(\.sequence).sorted()))")
            let emitted = Set(unique.filter(\.isSubscribed).compactMap(\.subject))
            let unemitted = acknowledged.subtracting(emitted)
            #expect(unemitted.isEmpty, "\(unemitted.count) acknowledged subscribers have no event: \(unemitted.sorted().prefix(10))")

            // Reconcile passes ran, and never two at once over one account.
            let scans = try await Self.scans(sandbox)
            #expect(scans.filter { $0.account == Self.reconciled }.count >= 2, "too few passes ran: \(scans)")
            let overlaps = Self.overlaps(scans, kills: kills.map(\.at))
            #expect(overlaps.isEmpty, "overlapping passes: \(overlaps)")
            print("replica test: \(acknowledged.count) acknowledged, \(unique.count) distinct events, \(repeats) re-emitted, \(scans.count) passes")
        } }
    }

    struct Scan: CustomStringConvertible {
        var account: String
        var startedAt: Int64
        var finishedAt: Int64?
        /// `completed`, `held` or `failed`; nil while unfinished.
        var outcome: String?
        var description: String { "\(account) \(startedAt)…\(finishedAt.map(String.init) ?? "killed") \(outcome ?? "")" }
        /// Finished with its listing applied (completed, or held by the removal guard).
        var ran: Bool { finishedAt != nil && outcome != nil && outcome != "failed" }
    }

    /// Pairs of passes over one account whose times overlap. A pass that never finished was cut
    /// short by a kill: it ends at the first kill after its start.
    static func overlaps(_ scans: [Scan], kills: [Int64]) -> [String] {
        var found: [String] = []
        for account in Set(scans.map(\.account)) {
            let passes = scans.filter { $0.account == account }.sorted { $0.startedAt < $1.startedAt }
            for (earlier, later) in zip(passes, passes.dropFirst()) {
                let end = earlier.finishedAt ?? kills.filter { $0 >= earlier.startedAt }.min() ?? Int64.max
                if later.startedAt < end { found.append("\(earlier) and \(later)") }
            }
        }
        return found
    }

    static func scans(_ sandbox: Sandbox) async throws -> [Scan] {
        try await scans(on: try #require(sandbox.postgres))
    }

    static func scans(on location: PostgresLocation) async throws -> [Scan] {
        try await TestPostgres.connect(to: location) { connection in
            var scans: [Scan] = []
            for try await (account, started, finished, outcome) in try await connection.query(
                "SELECT account, started_at, finished_at, outcome FROM scans", logger: TestPostgres.logger).decode((String, Int64, Int64?, String?).self) {
                scans.append(Scan(account: account, startedAt: started, finishedAt: finished, outcome: outcome))
            }
            return scans
        }
    }

    /// The pid in the emitter lease row (holders are `host:pid:nonce`).
    static func emitterHolderPID(_ sandbox: Sandbox) async throws -> Int32? {
        let location = try #require(sandbox.postgres)
        return try await TestPostgres.connect(to: location) { connection in
            var pid: Int32?
            for try await holder in try await connection.query(
                "SELECT lease_holder FROM emitter_state WHERE id = 1", logger: TestPostgres.logger).decode(String?.self) {
                pid = holder.flatMap { $0.split(separator: ":").dropFirst().first.flatMap { Int32($0) } }
            }
            return pid
        }
    }

    static func newestSequence(_ sandbox: Sandbox) -> Int64 {
        ["a", "b"].flatMap { EventFile.events(sandbox.path("events-\($0).jsonl")).map(\.sequence) }.max() ?? 0
    }
}
