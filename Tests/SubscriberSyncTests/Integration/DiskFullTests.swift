import Foundation
import Testing

/// Issue 15 on the real executable: the database's and the events file's filesystems fill up
/// (small tmpfs mounts) and come back.
/// One at a time, and apart from the load tests: they load the machine, and count on answers
/// coming within seconds.
@Suite("Integration: full disks", .enabled(if: SmallFilesystem.canMount, "mounting a tmpfs needs root (CI runs as root)"), .serialized,
       .timeLimit(.minutes(10)))
struct IntegrationDiskFullTests {
    static let t0 = IntegrationDefaults.baseEventTime

    /// Lines of the service's stderr that are about callbacks failing to commit.
    static func commitFailureLines(_ stderr: String) -> [Substring] {
        stderr.split(separator: "\n").filter {
            $0.contains("could not commit a callback") || $0.contains("callbacks in the last") || $0.contains("callbacks are committed again")
        }
    }

    @Test("database disk full on SQLite: only 200 and 503, /readyz 503 while full and 200 after, nothing acknowledged lost, a bounded log")
    func databaseDiskFull() async throws {
        try await HeavyTests.oneAtATime { try await withSandbox { sandbox in
            try await SmallFilesystem.with(kibibytes: 2048, at: sandbox.path("dbfs")) { filesystem in
                let service = try await sandbox.startService(ServeConfiguration(database: "dbfs/store.sqlite"))
                try await Self.fillTheDatabaseDisk(filesystem, service: service) {
                    try await sandbox.export(database: "dbfs/store.sqlite")
                }
            }
        } }
    }

    /// The server's own cluster on a small filesystem: a full disk fails the statements that need
    /// new pages (53100) while the server stays up.
    @Test("database disk full on PostgreSQL: the same")
    func postgresDiskFull() async throws {
        try await HeavyTests.oneAtATime { try await withSandbox { sandbox in
            try await SmallFilesystem.with(kibibytes: 96 * 1024, at: sandbox.path("pgfs")) { filesystem in
                try await ThrowawayPostgres.with(in: filesystem.directory + "/cluster") { server in
                    var configuration = ServeConfiguration()
                    configuration.databaseURL = server.url
                    let service = try await sandbox.startService(configuration)
                    try await Self.fillTheDatabaseDisk(filesystem, service: service, afterFreeing: {
                        // Should the server have stopped on the full disk, it is started again.
                        try? await server.control("start")
                    }, export: {
                        try await ExportRun.run(databasePath: server.url, account: nil, in: sandbox.directory, name: "export-\(sandbox.nextNumber())")
                    })
                }
            }
        } }
    }

    /// Fills `filesystem` under a running `service`, checks its answers, readiness and log while
    /// full, frees the space and checks that it recovers with nothing acknowledged lost.
    static func fillTheDatabaseDisk(_ filesystem: SmallFilesystem, service: ServiceProcess, afterFreeing: () async throws -> Void = {},
                                    export: () async throws -> ExportRun) async throws {
        let callbacks = service.callbacks()
        var acknowledged: [String] = []
        var statuses: [Int: Int] = [:]
        var number = 0
        func send() async throws -> Int {
            number += 1
            // Long names fill pages quickly: the store needs new ones for every callback.
            let names = (0..<10).map { "u\(number)-\($0)-" + String(repeating: "x", count: 180) }
            let reply = try await callbacks.subscribe(names, eventTime: Self.t0 + Int64(number))
            statuses[reply.status, default: 0] += 1
            if reply.isOK { acknowledged += names }
            return reply.status
        }
        for _ in 0..<20 { #expect(try await send() == 200) }

        try filesystem.fill()
        // Until the store refuses: what still fits (a WAL that reuses its space) is fine.
        #expect(try await waitUntil(timeout: .seconds(60), interval: .milliseconds(1)) { try await send() == 503 },
                "statuses: \(statuses)")
        let linesBefore = service.stderrText().split(separator: "\n").count
        let fullSince = ContinuousClock.now
        var refusedWhileFull = 0
        var readyAfterARefusal: [Int] = []
        // Past the first summary line, which may come later than 10 s: a commit that still fits
        // (a reused WAL) can end the run, and the relapse is summed up an interval after that.
        var summarised = false
        while ContinuousClock.now - fullSince < .seconds(12) || (!summarised && ContinuousClock.now - fullSince < .seconds(45)) {
            guard try await send() == 503 else { continue }
            refusedWhileFull += 1
            if refusedWhileFull % 25 == 1 {
                readyAfterARefusal.append(try await callbacks.get("/readyz").status)
                summarised = service.stderrText().contains("callbacks in the last 1")
            }
        }
        let fullSeconds = Int((ContinuousClock.now - fullSince).components.seconds) + 1
        #expect(try await callbacks.get("/healthz").status == 200, "the process is alive")
        #expect(!readyAfterARefusal.isEmpty && readyAfterARefusal.allSatisfy { $0 == 503 }, "readyz while refusing: \(readyAfterARefusal)")

        // The log: a few lines per 10 s per kind of failure (at most three each, should the store
        // flap), not one or two per refused callback. The emitter's failures are a second kind.
        let stderr = service.stderrText()
        let newLines = stderr.split(separator: "\n").count - linesBefore
        #expect(newLines <= 6 * (fullSeconds / 10 + 1), "\(newLines) lines for \(refusedWhileFull) refused callbacks:\n\(stderr)")
        let failureLines = Self.commitFailureLines(stderr)
        #expect(failureLines.count <= 3 * (fullSeconds / 10 + 1), "\(failureLines.count) lines about callback commits:\n\(stderr)")
        #expect(failureLines.contains { $0.contains("could not commit a callback") }, "\(stderr)")
        #expect(failureLines.contains { $0.contains("callbacks in the last 1") }, "the summary: \(stderr)")

        try filesystem.free()
        try await afterFreeing()
        #expect(try await waitUntil(timeout: .seconds(60), interval: .milliseconds(100)) { try await send() == 200 }, "statuses: \(statuses)")
        #expect(await waitUntil(timeout: .seconds(10)) { (try? await callbacks.get("/readyz").status) == 200 })
        // The log's last word on commits says they recovered (a store that flapped while full
        // logged recovery lines before; what counts is one after the last failure).
        #expect(await waitUntil(timeout: .seconds(20)) {
            Self.commitFailureLines(service.stderrText()).last?.contains("callbacks are committed again") == true
        }, "no recovery line after the last failure: \(Self.commitFailureLines(service.stderrText()).suffix(3))")
        #expect(Set(statuses.keys).isSubset(of: [200, 503]), "statuses: \(statuses)")

        let stored = Set(try await export().records().compactMap(\.subscriber))
        let lost = Set(acknowledged).subtracting(stored)
        #expect(lost.isEmpty, "\(lost.count) acknowledged subscribers lost")
        // At least once: a batch whose checkpoint could not be committed is written again.
        #expect(await waitUntil(timeout: .seconds(20)) {
            EventFile.deduplicated(EventFile.events(service.eventsPath)).unique.count == acknowledged.count
        }, "every acknowledged subscribe is emitted")
        let unique = EventFile.deduplicated(try EventFile.read(service.eventsPath).events())
        #expect(unique.unique.map(\.sequence) == oneThrough(acknowledged.count))
        #expect(unique.mismatched.isEmpty)
        _ = try await service.terminate()
    }

    @Test("an emitter that cannot write for 10 s hands its lease to a replica that can", arguments: StorageEngine.allCases)
    func failingEmitterHandsOver(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            try await SmallFilesystem.with(kibibytes: 256, at: sandbox.path("evfs")) { filesystem in
                let a = try await sandbox.startService(ServeConfiguration(events: "evfs/events-a.jsonl"), name: "a")
                #expect(try await a.callbacks().subscribe(["first"], eventTime: Self.t0).isOK)
                #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(a.eventsPath).count == 1 }, "A holds the lease")
                let b = try await sandbox.startService(ServeConfiguration(events: "events-b.jsonl"), name: "b")
                #expect(await b.waitForStderr(containing: "another process holds the event emitter lease", timeout: .seconds(10)))

                try filesystem.fill()
                let names = (0..<20).map { "after-\($0)-" + String(repeating: "z", count: 200) }
                for (index, name) in names.enumerated() {
                    #expect(try await b.callbacks().subscribe([name], eventTime: Self.t0 + 1 + Int64(index)).isOK)
                }
                #expect(await a.waitForStderr(containing: "gave up the event emitter lease", timeout: .seconds(30)), "\(a.stderrText())")
                // A wrote what fitted; B, once it holds the lease, writes the rest.
                #expect(await waitUntil(timeout: .seconds(20)) {
                    Set((EventFile.events(a.eventsPath) + EventFile.events(b.eventsPath)).compactMap(\.subject)).isSuperset(of: names)
                }, "B took over: \(b.stderrText())")
                #expect(!EventFile.events(b.eventsPath).isEmpty)
                try filesystem.free()
                let (unique, _, mismatched) = EventFile.deduplicated(try EventFile.read(a.eventsPath).events() + EventFile.read(b.eventsPath).events())
                #expect(mismatched.isEmpty)
                #expect(unique.map(\.sequence).sorted() == oneThrough(names.count + 1))
            }
        }
    }

    @Test("events disk full: callbacks acknowledged, the emitter catches up after, sequence contiguous, no broken line",
          arguments: StorageEngine.allCases)
    func eventsDiskFull(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            try await SmallFilesystem.with(kibibytes: 256, at: sandbox.path("evfs")) { filesystem in
                let service = try await sandbox.startService(ServeConfiguration(events: "evfs/events.jsonl"))
                let callbacks = service.callbacks()
                try filesystem.fill(leaveKibibytes: 24)
                let names = (0..<150).map { "s\($0)-" + String(repeating: "y", count: 200) }
                for (index, name) in names.enumerated() {
                    #expect(try await callbacks.subscribe([name], eventTime: Self.t0 + Int64(index)).isOK)
                }
                #expect(await waitUntil(timeout: .seconds(20)) { service.stderrText().contains("could not write events") }, "\(service.stderrText())")
                #expect(service.stderrText().contains("No space left on device (errno 28)"), "\(service.stderrText())")
                #expect(EventFile.events(service.eventsPath).count < names.count)

                try filesystem.free()
                #expect(await waitUntil(timeout: .seconds(30)) {
                    EventFile.deduplicated(EventFile.events(service.eventsPath)).unique.count >= names.count
                }, "\(service.stderrText())")
                // Every line parses (no half line was left), and after dropping repeats (at least
                // once) the sequence has no gap.
                let events = EventFile.deduplicated(try EventFile.read(service.eventsPath).events())
                #expect(events.unique.map(\.sequence) == oneThrough(names.count))
                #expect(events.mismatched.isEmpty)
                #expect(Set(events.unique.compactMap(\.subject)) == Set(names))
                #expect(await waitUntil(timeout: .seconds(20)) { service.stderrText().contains("events are written again") })
                #expect(try await callbacks.get("/readyz").status == 200)
            }
        }
    }
}
