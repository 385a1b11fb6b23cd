import Foundation
import PostgresNIO
import Subprocess
import Testing
@testable import SubscriberSync

/// What only the PostgreSQL engine has to get right: state that outlives the process.
@Suite struct PostgresEngineTests {
    @Test func theListingOfAPassWhoseProcessDiedGoesWithTheNextPassOfItsAccount() async throws {
        let location = try await TestPostgres.shared.createStore()
        let storage = PostgresStorage(location: location, sdkAppID: "1400000000", logger: TestPostgres.logger, maximumConnections: 2)
        try await storage.open()
        func listingRows() async throws -> [Int64: Int64] {
            try await TestPostgres.connect(to: location) { connection in
                var rows: [Int64: Int64] = [:]
                for try await (pass, count) in try await connection.query("SELECT pass, COUNT(*) FROM listing GROUP BY pass", logger: TestPostgres.logger)
                    .decode((Int64, Int64).self) {
                    rows[pass] = count
                }
                return rows
            }
        }
        let account = "@TOA#_killed"
        // A pass that stages its listing and never finishes: its process was killed.
        let killed = try await storage.beginPass(account: account, startedAt: 1_000)
        try await storage.stage(["a", "b"].map { TestStore.entry($0, account: account, requestedAt: 1_001) }, in: killed)
        let other = try await storage.beginPass(account: "@TOA#_other", startedAt: 1_500)
        try await storage.stage([TestStore.entry("z", account: "@TOA#_other", requestedAt: 1_501)], in: other)
        #expect(try await listingRows() == [killed.id: 2, other.id: 1])

        let next = try await storage.beginPass(account: account, startedAt: 2_000)
        #expect(try await listingRows() == [other.id: 1], "another account's listing stays")
        try await storage.stage([TestStore.entry("a", account: account, requestedAt: 2_001)], in: next)
        try await storage.finishPass(next, at: 2_005, outcome: "completed", complete: true, events: [], keepListing: false)
        #expect(try await listingRows() == [other.id: 1])
        // Pages staged for a pass after its scan was ended (a process that lost the lease while
        // paused), whose process then died before its own finish: the next pass's start drops them.
        let late = try await storage.beginPass(account: "@TOA#_late", startedAt: 2_006)
        try await TestPostgres.connect(to: location) { connection in
            try await connection.query("UPDATE scans SET finished_at = 2007, outcome = 'failed' WHERE id = \(late.id)", logger: TestPostgres.logger)
        }
        try await storage.stage([TestStore.entry("y", account: "@TOA#_late", requestedAt: 2_008)], in: late)
        #expect(try await listingRows() == [other.id: 1, late.id: 1])
        let afterLate = try await storage.beginPass(account: account, startedAt: 2_009)
        #expect(try await listingRows() == [other.id: 1], "the finished pass's rows went; the unfinished pass's stay")
        try await storage.finishPass(afterLate, at: 2_009, outcome: "failed", complete: false, events: [], keepListing: false)
        // The last pass with rows empties the table (by truncation).
        try await storage.finishPass(other, at: 2_010, outcome: "completed", complete: true, events: [], keepListing: false)
        #expect(try await listingRows() == [:])
        await storage.close()
    }

    /// SQLite orders keys as bytes. A PostgreSQL database's default collation may be a language's
    /// (here ICU's en-US: "_x a a_b ab B"); the store's keys still order as bytes, so export and
    /// read API cursors agree with SQLite.
    @Test func keysOrderAsBytesWhateverTheDatabaseLocale() async throws {
        let location = try await TestPostgres.shared.createDatabase(options: "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
        let storage = try await Self.open(location, connections: 2)
        let account = "@TOA#_order"
        let bytewise = ["B", "_x", "a", "a_b", "ab"]
        _ = try await storage.apply(.subscribers(SubscriberFacts(.subscribed, account: account, subscribers: bytewise.shuffled(), version: 100)))
        var exported: [String] = []
        try await storage.exportSubscribers(account: account) { exported.append($0.subscriber) }
        #expect(exported == bytewise)
        var paged: [String] = []
        var after: String?
        while let page = try await storage.subscriberPage(account: account, after: after, limit: 2), !page.records.isEmpty {
            paged += page.records.map(\.subscriber)
            after = page.records.last?.subscriber
            if !page.hasMore { break }
        }
        #expect(paged == bytewise)
        await storage.close()
    }

    /// A callback older than the listing's page that commits while a chunk is being added makes
    /// its row miss both of the chunk's writes (chosen for the insert, found subscribed by it).
    /// The chunk runs again, and the row's version still moves to the page's time, so an even older
    /// unsubscribe that arrives later stays stale, as on SQLite.
    @Test func anOlderCallbackCommittingDuringAChunkDoesNotCancelTheListing() async throws {
        // A database of its own: the callback's transaction stays open for seconds, and the wait
        // it looks for must be this test's chunk.
        let location = try await TestPostgres.shared.createDatabase()
        let storage = try await Self.open(location, connections: 4)
        let account = "@TOA#_race"
        _ = try await storage.apply(.subscribers(SubscriberFacts(.subscribed, account: account, subscribers: ["other"], version: 100)))
        let pass = try await storage.beginPass(account: account, startedAt: 1_000)
        try await storage.stage([TestStore.entry("late", account: account, requestedAt: 1_001)], in: pass)
        _ = try await storage.markRemovalCandidates(in: pass)
        _ = try await storage.applyListedFields(in: pass, batchSize: 10)
        let added = try await TestPostgres.connect(to: location) { callback in
            // The callback's transaction: "late" subscribed at 500, not committed yet.
            try await callback.query("BEGIN", logger: TestPostgres.logger)
            try await callback.query("""
                INSERT INTO subscribers (account, subscriber, subscribed, version, since, origin) VALUES (\(account), 'late', TRUE, 500, 500, 'webhook')
                """, logger: TestPostgres.logger)
            let adding = Task { try await storage.addListed(in: pass) }
            // Commit once the chunk's insert waits on that row.
            var waiting = false
            for _ in 0..<600 where !waiting {
                try await callback.query("SELECT pg_stat_clear_snapshot()", logger: TestPostgres.logger)
                let rows = try await callback.query("""
                    SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%WITH chunk%'
                    """, logger: TestPostgres.logger).collect()
                waiting = !rows.isEmpty
                if !waiting { try await Task.sleep(for: .milliseconds(50)) }
            }
            try await callback.query("COMMIT", logger: TestPostgres.logger)
            #expect(waiting, "the chunk's insert waited on the callback's row")
            return try await adding.value
        }
        #expect(added == 0, "the callback subscribed it first: no event of the pass")
        try await storage.finishPass(pass, at: 1_005, outcome: "completed", complete: true, events: [], keepListing: false)
        // Unsubscribed at 700: older than the page that listed "late" at 1_001.
        let stale = try await storage.apply(.subscribers(SubscriberFacts(.unsubscribed, account: account, subscribers: ["late"], version: 700)))
        #expect(stale.changed == 0)
        var subscribed: [String] = []
        try await storage.exportSubscribers(account: account) { subscribed.append($0.subscriber) }
        #expect(subscribed == ["late", "other"])
        await storage.close()
    }

    /// Stores in schemas of one database (as the tests' are) number their events apart: a
    /// transaction left open by another store's session holds nothing back, one of this store's
    /// sessions does.
    @Test func onlyTheStoresOwnOpenTransactionsHoldItsEventsBack() async throws {
        let location = try await TestPostgres.shared.createStore()
        let storage = try await Self.open(location, connections: 2)
        let lease = try #require(try await storage.acquireEmitterLease(holder: "a", durationMilliseconds: 60_000))
        try await Self.openTransaction(on: location, as: "subscriber-sync/another_store") {
            _ = try await storage.apply(.subscribers(SubscriberFacts(.subscribed, account: "@TOA#_apart", subscribers: ["a"], version: 100)))
            #expect(try await storage.nextEvents(for: lease, limit: 10).events.map(\.sequence) == [1])
        }
        try await Self.openTransaction(on: location, as: "subscriber-sync/\(try #require(location.schema))") {
            _ = try await storage.apply(.subscribers(SubscriberFacts(.subscribed, account: "@TOA#_apart", subscribers: ["b"], version: 100)))
            #expect(try await storage.nextEvents(for: lease, limit: 10).events.map(\.sequence) == [1],
                    "an older transaction of this store may still commit: 2 waits")
        }
        #expect(try await storage.nextEvents(for: lease, limit: 10).events.map(\.sequence) == [1, 2])
        await storage.close()
    }

    /// Forward jobs likewise: another store's open transaction (or another database's) does not
    /// hold a target's jobs back; one of this store's sessions does, as an older job may still commit.
    @Test func onlyTheStoresOwnOpenTransactionsHoldItsForwardJobsBack() async throws {
        let location = try await TestPostgres.shared.createStore()
        let storage = try await Self.open(location, connections: 2)
        func job(_ body: UInt8) -> ForwardJob {
            ForwardJob(target: "http://apart/", delivery: "d\(body)", command: "C2C.CallbackAfterSendMsg", query: "", contentType: "application/json",
                       body: ByteBuffer(bytes: [body]), receivedAt: 1_000)
        }
        func bodies() async throws -> [[UInt8]] { try await storage.nextForwards(target: "http://apart/", limit: 10).map { Array(buffer: $0.body) } }
        try await Self.openTransaction(on: location, as: "subscriber-sync/another_store") {
            _ = try await storage.commit(CallbackWrite(change: nil, forwards: [job(1)]))
            #expect(try await bodies() == [[1]])
        }
        try await Self.openTransaction(on: location, as: "subscriber-sync/\(try #require(location.schema))") {
            _ = try await storage.commit(CallbackWrite(change: nil, forwards: [job(2)]))
            #expect(try await bodies() == [[1]], "an older transaction of this store may still commit: 2 waits")
        }
        #expect(try await bodies() == [[1], [2]])
        await storage.close()
    }

    /// A database of the store's own (as in production): any session's open transaction holds
    /// its events back, whatever the session calls itself.
    @Test func withoutASchemaEveryOpenTransactionOfTheDatabaseHoldsEventsBack() async throws {
        let location = try await TestPostgres.shared.createDatabase()
        let storage = try await Self.open(location, connections: 2)
        let lease = try #require(try await storage.acquireEmitterLease(holder: "a", durationMilliseconds: 60_000))
        try await Self.openTransaction(on: location, as: "psql") {
            _ = try await storage.apply(.subscribers(SubscriberFacts(.subscribed, account: "@TOA#_whole", subscribers: ["a"], version: 100)))
            #expect(try await storage.nextEvents(for: lease, limit: 10).events.isEmpty, "an older transaction may still commit")
        }
        #expect(try await storage.nextEvents(for: lease, limit: 10).events.map(\.sequence) == [1])
        await storage.close()
    }

    /// A replica that stalls (stopped, its host gone) inside the transaction that numbers events
    /// holds the emitter's state row. The server ends that session after 5 s idle, so another
    /// replica takes the lease once the stalled one's has run out, instead of waiting for TCP.
    @Test func aStalledSessionOnTheEmitterRowIsEndedSoAnotherReplicaTakesTheLease() async throws {
        let location = try await TestPostgres.shared.createStore()
        let storage = try await Self.open(location, connections: 2)
        _ = try #require(try await storage.acquireEmitterLease(holder: "a", durationMilliseconds: 1_000))
        try await TestPostgres.connect(to: location, parameters: PostgresConnectionPool.sessionParameters(for: location)) { stalled in
            var stalledPID: Int32 = 0
            for try await pid in try await stalled.query("SELECT pg_backend_pid()", logger: TestPostgres.logger).decode(Int32.self) { stalledPID = pid }
            // Each answer read whole: the row is locked once its statement has run to the end.
            _ = try await stalled.query("BEGIN", logger: TestPostgres.logger).collect()
            let locked = try await stalled.query("SELECT checkpoint FROM emitter_state WHERE id = 1 FOR UPDATE", logger: TestPostgres.logger).collect()
            try #require(locked.count == 1)
            let tookOver = await waitUntil(timeout: .seconds(30), interval: .milliseconds(200)) {
                ((try? await storage.acquireEmitterLease(holder: "b", durationMilliseconds: 60_000)) ?? nil) != nil
            }
            #expect(tookOver, "the stalled session still holds the emitter's row")
            let gone = try await TestPostgres.connect(to: location) { connection in
                try await connection.query("SELECT 1 FROM pg_stat_activity WHERE pid = \(stalledPID)", logger: TestPostgres.logger).collect().isEmpty
            }
            #expect(gone, "the server ended the stalled session")
        }
        await storage.close()
    }

    /// Replicas that start together on a new database: each migration runs once, under the
    /// advisory lock, and every replica opens (without the lock, one would fail on a table the
    /// other has just created).
    @Test func replicasStartingTogetherMigrateOnce() async throws {
        for _ in 0..<3 {
            let location = try await TestPostgres.shared.createDatabase()
            let replicas = (0..<4).map { _ in
                PostgresStorage(location: location, sdkAppID: "1400000000", logger: TestPostgres.logger, maximumConnections: 1)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for replica in replicas { group.addTask { try await replica.open() } }
                try await group.waitForAll()
            }
            for replica in replicas {
                #expect(try await replica.subscriberCount(account: "@TOA#_none") == 0)
                await replica.close()
            }
            let versions = try await TestPostgres.connect(to: location) { connection in
                var versions: [Int] = []
                for try await version in try await connection.query("SELECT version FROM subscriber_sync_migrations ORDER BY version",
                                                                    logger: TestPostgres.logger).decode(Int.self) {
                    versions.append(version)
                }
                return versions
            }
            #expect(versions == Array(1...versions.count), "each migration once: \(versions)")
        }
    }

    /// Every session commits durably and ends when stuck, whatever the database's own defaults.
    @Test func sessionSettingsWinOverTheDatabaseDefaults() async throws {
        let location = try await TestPostgres.shared.createDatabase()
        try await TestPostgres.connect(to: location) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: """
                ALTER DATABASE \(location.database) SET synchronous_commit = off
                """), logger: TestPostgres.logger)
            try await connection.query(PostgresQuery(unsafeSQL: """
                ALTER DATABASE \(location.database) SET idle_in_transaction_session_timeout = 0
                """), logger: TestPostgres.logger)
        }
        let settings = try await TestPostgres.connect(to: location, parameters: PostgresConnectionPool.sessionParameters(for: location)) { session in
            var settings: [String] = []
            for name in ["synchronous_commit", "idle_in_transaction_session_timeout"] {
                for try await value in try await session.query(PostgresQuery(unsafeSQL: "SHOW \(name)"), logger: TestPostgres.logger).decode(String.self) {
                    settings.append(value)
                }
            }
            return settings
        }
        #expect(settings == ["on", "5s"])
    }

    /// `sslmode` as libpq means it, against the test server's TLS (`scripts/test-postgres`):
    /// `disable` talks in the clear; `prefer` and `require` encrypt, and so does `verify-full`
    /// with the CA that signed the server's certificate; `verify-full` refuses a server that only
    /// another CA vouches for.
    @Test func sslModesMeanWhatLibpqMeans() async throws {
        let ca = ProcessInfo.processInfo.environment["SUBSCRIBER_SYNC_TEST_POSTGRES_CA"] ?? "/var/lib/postgresql/subscriber-sync-test-ca.pem"
        try #require(FileManager.default.isReadableFile(atPath: ca), "no test CA at \(ca): run scripts/test-postgres")
        let cases: [(PostgresLocation.SSLMode, String?, Bool)] = [
            (.disable, nil, false), (.prefer, nil, true), (.require, nil, true), (.require, ca, true), (.verifyFull, ca, true),
        ]
        for (mode, root, encrypted) in cases {
            var location = try await TestPostgres.shared.createStore()
            location.sslMode = mode
            location.sslRootCert = root
            let storage = PostgresStorage(location: location, sdkAppID: "1400000000", logger: TestPostgres.logger, maximumConnections: 1)
            try await storage.open()
            let sessions = try await TestPostgres.connect(to: location) { connection in
                var sessions: [Bool] = []
                for try await ssl in try await connection.query("""
                    SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = \(location.sessionName)
                    """, logger: TestPostgres.logger).decode(Bool.self) {
                    sessions.append(ssl)
                }
                return sessions
            }
            #expect(!sessions.isEmpty && sessions.allSatisfy { $0 == encrypted }, "sslmode \(mode), sslrootcert \(root ?? "none"): \(sessions)")
            await storage.close()
        }

        // Another CA, made here, does not vouch for the server.
        let directory = try TemporaryDirectory()
        let otherCA = directory.file("other-ca.pem")
        let made = try await Subprocess.run(.name("openssl"), arguments: ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                                                          "-nodes", "-keyout", directory.file("other-ca.key"), "-out", otherCA,
                                                                          "-days", "1", "-subj", "/CN=another CA"],
                                            output: .discarded, error: .string(limit: 4096))
        try #require(made.terminationStatus.isSuccess, "\(made.standardError)")
        var location = try await TestPostgres.shared.createStore()
        location.sslMode = .verifyFull
        location.sslRootCert = otherCA
        let refused = PostgresStorage(location: location, sdkAppID: "1400000000", logger: TestPostgres.logger, maximumConnections: 1)
        let refusal = await #expect(throws: (any Error).self, "verify-full trusted a certificate its CA did not sign") { try await refused.open() }
        // At once and in TLS's words, not after the pool's minute of retries.
        #expect(String(describing: refusal).contains("CERTIFICATE_VERIFY_FAILED"), "\(String(describing: refusal))")
        await refused.close()
    }

    /// Runs `body` while a session named `applicationName` holds a transaction with an id open.
    private static func openTransaction(on location: PostgresLocation, as applicationName: String,
                                        then body: () async throws -> Void) async throws {
        try await TestPostgres.connect(to: location) { session in
            try await session.query("SELECT set_config('application_name', \(applicationName), false)", logger: TestPostgres.logger)
            try await session.query("BEGIN", logger: TestPostgres.logger)
            try await session.query("SELECT pg_current_xact_id()", logger: TestPostgres.logger)
            try await body()
            try await session.query("ROLLBACK", logger: TestPostgres.logger)
        }
    }

    /// Taking the reconciler's lease fails, without waiting, while a write of the holder's pass
    /// runs (holding the fence's shared lock after its check), so no other pass can begin before
    /// that write commits; once it has, the expired lease is taken.
    @Test func theReconcileLeaseIsNotTakenWhileAWriteOfThePassRuns() async throws {
        let location = try await TestPostgres.shared.createStore()
        let clock = FakeClock()
        let storage = PostgresStorage(location: location, sdkAppID: "1400000000", clock: clock, logger: TestPostgres.logger, maximumConnections: 2,
                                      callbackPatience: .seconds(60))
        try await storage.open()
        let first = try #require(try await storage.acquireReconcileLease(holder: "a", durationMilliseconds: 30_000, dueAfterMilliseconds: nil))
        clock.advance(milliseconds: 30_001)
        try await TestPostgres.connect(to: location) { write in
            _ = try await write.query("BEGIN", logger: TestPostgres.logger).collect()
            try await PostgresReconcileFence.check(first, on: write, logger: TestPostgres.logger)
            #expect(try await storage.acquireReconcileLease(holder: "b", durationMilliseconds: 30_000, dueAfterMilliseconds: nil) == nil,
                    "the pass is writing")
            _ = try await write.query("COMMIT", logger: TestPostgres.logger).collect()
        }
        let taken = try #require(try await storage.acquireReconcileLease(holder: "b", durationMilliseconds: 30_000, dueAfterMilliseconds: nil))
        #expect(taken.epoch > first.epoch)
        await storage.close()
    }

    /// A store on `location`, open, whose callbacks wait as long as a slow test machine needs.
    private static func open(_ location: PostgresLocation, connections: Int) async throws -> PostgresStorage {
        let storage = PostgresStorage(location: location, sdkAppID: "1400000000", logger: TestPostgres.logger, maximumConnections: connections,
                                      callbackPatience: .seconds(60))
        try await storage.open()
        return storage
    }
}
