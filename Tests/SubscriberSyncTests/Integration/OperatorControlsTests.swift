import Foundation
import Testing
import SubscriberSync
import TencentSimulator

/// Issue 14 on the real executable: the removal-ratio floor, re-created accounts and the
/// `accounts` command, config typos, and a held pass counted once.
@Suite("Integration: operator controls", .timeLimit(.minutes(3)))
struct IntegrationOperatorControlsTests {
    static func names(_ prefix: String, _ range: Range<Int>) -> [SubscriberInfo] {
        range.map { SubscriberInfo(account: "\(prefix)\($0)") }
    }

    /// A simulator serving `account` with `subscribers`.
    static func simulator(_ account: String, _ subscribers: [SubscriberInfo]) async throws -> SimulatorHarness {
        let harness = try await SimulatorHarness()
        harness.simulator.setSubscribers(account: account, subscribers)
        return harness
    }

    static func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// The removal-ratio floor's boundary: with `--max-removal-ratio 0.1` and a floor of 3, three
    /// removals from 20 pass although they exceed the ratio, four are held; a small account at the
    /// default floor loses a departed subscriber.
    @Test("--removal-ratio-floor: N removals pass, N+1 over the ratio are held", arguments: StorageEngine.allCases)
    func removalRatioFloor(engine: StorageEngine) async throws {
        let account = "@TOA#_floor"
        let small = "@TOA#_small"
        let h = try await Self.simulator(account, Self.names("f", 0..<20))
        h.simulator.setSubscribers(account: small, Self.names("s", 0..<4))
        try await withSandbox(engine: engine) { sandbox in
            func reconcile(_ accounts: [String], floor: String? = "3") async throws -> ReconcileRun {
                try await ReconcileRun.run(h, sandbox: sandbox, accounts: accounts,
                                           extra: ["--max-removal-ratio", "0.1"] + (floor.map { ["--removal-ratio-floor", $0] } ?? []))
            }
            func subscribed(_ account: String) async throws -> Int { try await sandbox.export(account: account).records().count }

            #expect(try await reconcile([account]).status == 0)
            #expect(try await subscribed(account) == 20)

            // Three leave (3 > 0.1 × 20, but not > 3): removed once two listings miss them.
            h.simulator.setSubscribers(account: account, Self.names("f", 3..<20))
            #expect(try await reconcile([account]).status == 0)
            let third = try await reconcile([account])
            #expect(third.status == 0, "\(third.stderr)")
            #expect(try await subscribed(account) == 17)

            // Four more leave (4 > 0.1 × 17 and 4 > 3): held, exit 2.
            h.simulator.setSubscribers(account: account, Self.names("f", 7..<20))
            #expect(try await reconcile([account]).status == 0, "the first listing only marks candidates")
            let held = try await reconcile([account])
            #expect(held.status == 2, "\(held.stderr)")
            #expect(held.stderr.contains("--removal-ratio-floor 3"), "\(held.stderr)")
            #expect(try await subscribed(account) == 17)

            // The default floor (10): one departure from an account of four is applied.
            #expect(try await reconcile([small], floor: nil).status == 0)
            h.simulator.setSubscribers(account: small, Self.names("s", 1..<4))
            #expect(try await reconcile([small], floor: nil).status == 0)
            let applied = try await reconcile([small], floor: nil)
            #expect(applied.status == 0, "\(applied.stderr)")
            #expect(try await subscribed(small) == 3)
        }
    }

    @Test("a held pass counts once in subscriber_sync_reconcile_passes_total, under held", arguments: StorageEngine.allCases)
    func heldPassCountedOnce(engine: StorageEngine) async throws {
        let account = "@TOA#_metrics"
        let h = try await Self.simulator(account, Self.names("m", 0..<30))
        try await withSandbox(engine: engine) { sandbox in
            let keyFile = sandbox.path("secret.key")
            try SimulatorHarness.key.write(toFile: keyFile, atomically: true, encoding: .utf8)
            let service = try await sandbox.startService(ServeConfiguration(extraArguments: [
                "--secret-key-file", keyFile, "--api-base-url", h.baseURL, "--official-account", account, "--reconcile-interval", "1s",
            ]))
            func count(_ type: String) -> Int { EventFile.events(service.eventsPath).filter { $0.type == "io.subscriber-sync.\(type)" }.count }
            #expect(await waitUntil(timeout: .seconds(30)) { count("reconcile.completed") >= 1 }, "\(service.stderrText())")
            // An empty listing while the store holds 30: every pass from here on is held.
            h.simulator.setSubscribers(account: account, [])
            let callbacks = service.callbacks()
            func passes(_ outcome: String) async throws -> Double {
                let metrics = try await callbacks.get("/metrics").body
                let series = "subscriber_sync_reconcile_passes_total{outcome=\"\(outcome)\"} "
                return metrics.split(separator: "\n").first { $0.hasPrefix(series) }.flatMap { Double($0.dropFirst(series.count)) } ?? 0
            }
            var seen = ""
            // Read while no pass ends in between: the metrics before and after the events agree.
            #expect(try await waitUntil(timeout: .seconds(60), interval: .milliseconds(250)) {
                let (held, completed) = (try await passes("held"), try await passes("completed"))
                let (heldEvents, completedEvents) = (count("reconcile.held"), count("reconcile.completed"))
                guard try await passes("held") == held, try await passes("completed") == completed, heldEvents >= 2 else { return false }
                seen = "metrics held \(held) completed \(completed); events held \(heldEvents) completed \(completedEvents)"
                // Every pass, held or not, ends with one reconcile.completed event.
                return Int(held) == heldEvents && Int(held + completed) == completedEvents
            }, "\(seen)")
            #expect(try await sandbox.export(account: account).records().count == 30, "held removals stay")
        }
    }

    @Test("an account created again after its destruction is reconciled again; accounts lists and revives", arguments: StorageEngine.allCases)
    func recreatedAccounts(engine: StorageEngine) async throws {
        let account = "@TOA#_again"
        let h = try await Self.simulator(account, Self.names("a", 0..<3))
        try await withSandbox(engine: engine) { sandbox in
            let service = try await sandbox.startService(ServeConfiguration(extraArguments: ["--reconcile-interval", "0"]))
            let callbacks = service.callbacks()
            // No --official-account: the accounts the store knows, as serve's loop covers them.
            func reconcile(_ accounts: [String] = []) async throws -> ReconcileRun { try await ReconcileRun.run(h, sandbox: sandbox, accounts: accounts) }
            func subscribers() async throws -> [String] { try await sandbox.export(account: account).records().compactMap(\.subscriber) }
            func listed() async throws -> [String: Any] {
                let run = try await sandbox.accounts(["--json"])
                #expect(run.status == 0, "\(run.stderr)")
                let lines = run.stdout.split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }
                return try #require(lines.first { $0["officialAccount"] as? String == account }, "\(run.stdout)")
            }

            let t = Self.nowMilliseconds()
            #expect(try await callbacks.subscribe(account: account, ["early"], eventTime: t - 120_000).isOK)
            #expect(try await callbacks.destroyAccount(account, eventTime: t - 60_000).isOK)
            let skipped = try await reconcile([account])
            #expect(skipped.status == 0)
            #expect(skipped.stderr.contains("official account was destroyed; not reconciling it"), "\(skipped.stderr)")
            #expect(try await subscribers().isEmpty)
            #expect(try await listed()["state"] as? String == "destroyed")

            // Created again, later than the destruction: live, and the next pass covers it.
            #expect(try await callbacks.createAccount(account, eventTime: t - 30_000).isOK)
            #expect(await waitUntil(timeout: .seconds(20)) { service.stderrText().contains("created again after its destruction") })
            #expect(try await reconcile().status == 0)
            #expect(try await subscribers() == ["a0", "a1", "a2"])
            let live = try await listed()
            #expect(live["state"] as? String == "live")
            #expect(live["destroyedAt"] as? String == Timestamps.rfc3339(milliseconds: t - 60_000))
            #expect(live["createdAt"] as? String == Timestamps.rfc3339(milliseconds: t - 30_000))
            #expect(live["subscribed"] as? Int == 3)
            #expect(live["tombstones"] as? Int == 1, "early keeps its tombstone")
            #expect((live["lastPass"] as? [String: Any])?["outcome"] as? String == "completed", "\(live)")

            // Destroyed again; a creation older than that destruction changes nothing.
            let destroyedAgain = Self.nowMilliseconds()
            #expect(try await callbacks.destroyAccount(account, eventTime: destroyedAgain).isOK)
            #expect(try await callbacks.createAccount(account, eventTime: destroyedAgain - 1).isOK)
            #expect(try await listed()["state"] as? String == "destroyed")
            #expect(try await subscribers().isEmpty)

            // The operator knows better.
            let revived = try await sandbox.accounts(["--revive", account])
            #expect(revived.status == 0, "\(revived.stderr)")
            #expect(revived.stdout.contains("\(account): destroyed"), "\(revived.stdout)")
            #expect(revived.stdout.contains("-> live"), "\(revived.stdout)")
            #expect(revived.stderr.contains("official account revived by an operator"), "\(revived.stderr)")
            #expect(try await listed()["state"] as? String == "live")
            #expect(try await reconcile().status == 0)
            #expect(try await subscribers() == ["a0", "a1", "a2"])

            let again = try await sandbox.accounts(["--revive", account])
            #expect(again.status == 0)
            #expect(again.stdout.contains("live already; nothing changed"))
            let unknown = try await sandbox.accounts(["--revive", "@TOA#_nobody"])
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("knows no account @TOA#_nobody"), "\(unknown.stderr)")

            let table = try await sandbox.accounts()
            #expect(table.status == 0)
            let rows = table.stdout.split(separator: "\n")
            #expect(rows.first?.hasPrefix("ACCOUNT") == true, "\(table.stdout)")
            #expect(rows.contains { $0.hasPrefix(account) && $0.contains(" live ") && $0.contains("completed") }, "\(table.stdout)")
        }
    }

    @Test("unknown config keys are refused with a suggestion; unknown SUBSCRIBER_SYNC_ variables are warned about")
    func configTypos() async throws {
        try await withSandbox { sandbox in
            let yaml = sandbox.path("typo.yaml")
            try "sdkappid: 1400000000\nreconcileIntervall: 5m\nmaxRemoval: 5\ndatabase: \(sandbox.path("store.sqlite"))\n"
                .write(toFile: yaml, atomically: true, encoding: .utf8)
            let check = try await SubscriberSyncExecutable.run(["serve", "--check-config", "--config", yaml])
            #expect(check.status == 1, "\(check.stderr)")
            #expect(check.stderr.contains(#""reconcileIntervall" (did you mean "reconcileInterval"?)"#), "\(check.stderr)")
            #expect(check.stderr.contains(#""maxRemoval" (did you mean "maxRemovals"?)"#), "\(check.stderr)")
            #expect(!check.stdout.contains("configuration is valid"))

            let serve = try await SubscriberSyncExecutable.run(["serve", "--config", yaml, "--listen", "127.0.0.1:0"],
                                                               workingDirectory: sandbox.directory, timeout: .seconds(30))
            #expect(serve.status == 1, "serve refuses to start: \(serve.stderr)")
            #expect(serve.stderr.contains("reconcileIntervall"))
            #expect(!FileManager.default.fileExists(atPath: sandbox.path("store.sqlite")), "nothing was opened")

            let json = sandbox.path("typo.json")
            try #"{"sdkappid": 1400000000, "logLevl": "debug"}"#.write(toFile: json, atomically: true, encoding: .utf8)
            let jsonCheck = try await SubscriberSyncExecutable.run(["serve", "--check-config", "--config", json])
            #expect(jsonCheck.status == 1)
            #expect(jsonCheck.stderr.contains(#""logLevl" (did you mean "logLevel"?)"#), "\(jsonCheck.stderr)")

            let environment = SubscriberSyncExecutable.environment(adding: [
                "SUBSCRIBER_SYNC_SDKAPPID": "1400000000", "SUBSCRIBER_SYNC_RECONCILE_INTERVALL": "5m",
            ])
            let warned = try await SubscriberSyncExecutable.run(["serve", "--check-config"], environment: environment)
            #expect(warned.status == 0, "a warning, not a refusal: \(warned.stderr)")
            #expect(warned.stderr.contains("unknown environment variable SUBSCRIBER_SYNC_RECONCILE_INTERVALL is ignored (did you mean SUBSCRIBER_SYNC_RECONCILE_INTERVAL?)"),
                    "\(warned.stderr)")
            #expect(warned.stdout.contains("configuration is valid"))
        }
    }
}
