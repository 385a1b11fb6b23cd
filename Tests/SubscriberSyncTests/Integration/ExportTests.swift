import Foundation
import Testing

/// `subscriber-sync export` against the database of a running `serve`.
@Suite("Integration: export", .timeLimit(.minutes(10)))
struct IntegrationExportTests {
    static let t0 = IntegrationDefaults.baseEventTime
    static let alpha = "@TOA#_alpha"
    static let beta = "@TOA#_beta"

    @Test("export while serve runs lists current subscribers; --official-account filters", arguments: StorageEngine.allCases)
    func exportFilters(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            // The token from the environment this time (TENCENT_CALLBACK_TOKEN).
            let service = try await sandbox.startService(ServeConfiguration(token: .environment("env-token-xyz")))
            let callbacks = service.callbacks()
            #expect(try await callbacks.subscribe(account: Self.alpha, ["bob", "alice", "dave"], eventTime: Self.t0 + 1).isOK)
            #expect(try await callbacks.unsubscribe(account: Self.alpha, ["dave"], eventTime: Self.t0 + 2).isOK)
            #expect(try await callbacks.subscribe(account: Self.beta, ["carol"], eventTime: Self.t0 + 3).isOK)
            // The environment token is in force: a Sign made with another token is refused.
            let forged = CallbackClient(baseURL: service.baseURL, sdkAppID: IntegrationDefaults.sdkAppID,
                                        token: "not-the-env-token", client: .shared)
            let refused = try await forged.subscribe(account: Self.beta, ["mallory"], eventTime: Self.t0 + 4)
            #expect(refused.status == 401 && refused.isWellFormedRefusal, "\(refused)")

            let all = try await sandbox.export()
            #expect(all.exit == .exited(0), "export: \(all.stderr)")
            #expect(try all.records() == [
                ExportRecord(officialAccount: Self.alpha, subscriber: "alice", since: Self.t0 + 1),
                ExportRecord(officialAccount: Self.alpha, subscriber: "bob", since: Self.t0 + 1),
                ExportRecord(officialAccount: Self.beta, subscriber: "carol", since: Self.t0 + 3),
            ], "export:\n\(all.stdout)")
            #expect(all.stdout.hasSuffix("\n"))

            let onlyAlpha = try await sandbox.export(account: Self.alpha)
            #expect(onlyAlpha.exit == .exited(0))
            #expect(try onlyAlpha.records().map { "\($0.officialAccount ?? "")/\($0.subscriber ?? "")" } == ["\(Self.alpha)/alice", "\(Self.alpha)/bob"])

            let onlyBeta = try await sandbox.export(account: Self.beta)
            #expect(onlyBeta.exit == .exited(0))
            #expect(try onlyBeta.records().map { "\($0.officialAccount ?? "")/\($0.subscriber ?? "")" } == ["\(Self.beta)/carol"])

            let unknown = try await sandbox.export(account: "@TOA#_nobody")
            #expect(unknown.exit == .exited(0))
            #expect(unknown.stdout.isEmpty)

            #expect(service.isRunning)
        }
    }

    @Test("export runs while serve is committing callbacks under load", arguments: StorageEngine.allCases)
    func exportDuringLoad(engine: StorageEngine) async throws {
        try await HeavyTests.oneAtATime { try await withSandbox(engine: engine) { sandbox in
            let service = try await sandbox.startService()
            let recorder = LoadRecorder()
            var counts: [Int] = []
            try await withHTTPClient { client in
                async let load: Void = CallbackLoad.run(callbacks: service.callbacks(client: client), clients: 8,
                                                        prefix: "exp-", recorder: recorder)
                #expect(await waitUntil(timeout: .seconds(10)) { recorder.acknowledgedSubscribers.count >= 50 },
                        "the load did not get going")
                for _ in 0..<3 {
                    let before = Set(recorder.acknowledgedSubscribers)
                    let run = try await sandbox.export()
                    #expect(run.exit == .exited(0), "export under load: \(run.stderr)")
                    let records = try run.records()
                    let exported = Set(records.compactMap(\.subscriber))
                    // Acknowledged before export started means committed: it must be there.
                    #expect(before.isSubset(of: exported), "export missed \(before.subtracting(exported).count) acknowledged subscribers")
                    counts.append(records.count)
                }
                recorder.stop()
                await load
            }
            #expect(counts == counts.sorted(), "export counts went down: \(counts)")
            #expect(service.isRunning)
            let final = Set(try await sandbox.export().records().compactMap(\.subscriber))
            #expect(Set(recorder.acknowledgedSubscribers).isSubset(of: final))
        } }
    }

    @Test("export of a missing database fails and creates nothing")
    func exportMissingDatabase() async throws {
        try await withSandbox { sandbox in
            let run = try await sandbox.export(database: "missing.sqlite")
            #expect(run.exit != .exited(0))
            #expect(run.stdout.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: sandbox.path("missing.sqlite")))
        }
    }
}
