import Foundation
import GRDB
import Logging
import Testing
@testable import SubscriberSync

/// What only the SQLite engine has: its row format, its durability settings, its group commit.
@Suite struct SQLiteEngineTests {
    let directory: TemporaryDirectory
    let rules = SQLiteSubscriberRules(outbox: SQLiteOutbox(sdkAppID: "1400000000"))

    init() throws {
        directory = try TemporaryDirectory()
    }

    func open() throws -> DatabasePool {
        try SQLiteDatabase.open(path: directory.file("store.sqlite"))
    }

    func subscribe(_ subscribers: [String], account: String = "@TOA#_a", in db: Database, recordedAt: Int64 = 2_000) throws -> ApplyResult {
        try rules.apply(PreparedChange(.subscribers(SubscriberFacts(.subscribed, account: account, subscribers: subscribers, version: 1_000))),
                        recordedAt: recordedAt, in: db)
    }

    func lines(_ database: DatabasePool) throws -> [String] {
        try database.read { try SQLiteOutbox.lines(from: 1, limit: 100, in: $0) }.map { String(decoding: $0.line, as: UTF8.self) }
    }

    @Test func databaseIsDurable() throws {
        let database = try open()
        let synchronous = try database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
        #expect(synchronous == 2, "FULL: an acknowledged callback survives power loss")
        #expect(try database.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
    }

    /// Rows store `type` and `source` compactly; rows from before that hold the full strings and
    /// must render to the same bytes.
    @Test func compactAndLegacyRowsRenderTheSameLines() throws {
        let database = try open()
        _ = try database.write { try subscribe(["u0"], in: $0) }
        let stored = try #require(try database.read { try Row.fetchOne($0, sql: "SELECT type, source FROM outbox") })
        #expect(stored["type"] as String == "subscriber.subscribed")
        #expect(stored["source"] as String == "1400000000/%40TOA%23_a")
        try database.write { db in
            try db.execute(sql: """
                INSERT INTO outbox (id, type, source, subject, time, recorded_time, data)
                SELECT id, 'io.subscriber-sync.subscriber.subscribed', 'tencent-chat://1400000000/official-accounts/%40TOA%23_a',
                       subject, time, recorded_time, data
                FROM outbox
                """)
        }
        let lines = try lines(database)
        try #require(lines.count == 2)
        #expect(lines[0].replacingOccurrences(of: #""sequence":"00000000000000000001""#, with: #""sequence":"00000000000000000002""#) == lines[1])
        let id = try #require(try database.read { try String.fetchOne($0, sql: "SELECT id FROM outbox WHERE sequence = 1") })
        #expect(lines[0] == """
            {"specversion":"1.0","id":"\(id)","source":"tencent-chat://1400000000/official-accounts/%40TOA%23_a","type":"io.subscriber-sync.subscriber.subscribed","subject":"u0","time":"1970-01-01T00:00:01.000Z","recordedtime":"1970-01-01T00:00:02.000Z","sequence":"00000000000000000001","datacontenttype":"application/json","data":{"officialAccount":"@TOA#_a","subscriber":"u0","origin":"webhook"}}

            """)
    }

    /// Lines are rendered straight from SQLite's column buffers: escapes, non-ASCII, empty columns
    /// and a source without an account must come out exactly.
    @Test func linesRenderEveryColumnExactly() throws {
        let database = try open()
        try database.write { db in
            let rows: [(String, String, String, String)] = [
                ("no-slash", "reconcile.completed", "1400000000", "tab\there"),
                ("ctl\u{1}", "subscriber.updated", "1400000000/%E4%B8%AD", "用户\\x"),
                ("", "", "", ""),
            ]
            for (id, type, source, subject) in rows {
                try db.execute(sql: """
                    INSERT INTO outbox (id, type, source, subject, time, recorded_time, data) VALUES (?, ?, ?, ?, -1, 1700000000123, '{"a":"\\n"}')
                    """, arguments: [id, type, source, subject])
            }
        }
        let lines = try lines(database)
        #expect(lines == [
            #"{"specversion":"1.0","id":"no-slash","source":"tencent-chat://1400000000","type":"io.subscriber-sync.reconcile.completed","subject":"tab\there","time":"1969-12-31T23:59:59.999Z","recordedtime":"2023-11-14T22:13:20.123Z","sequence":"00000000000000000001","datacontenttype":"application/json","data":{"a":"\n"}}"# + "\n",
            #"{"specversion":"1.0","id":"ctl\u0001","source":"tencent-chat://1400000000/official-accounts/%E4%B8%AD","type":"io.subscriber-sync.subscriber.updated","subject":"用户\\x","time":"1969-12-31T23:59:59.999Z","recordedtime":"2023-11-14T22:13:20.123Z","sequence":"00000000000000000002","datacontenttype":"application/json","data":{"a":"\n"}}"# + "\n",
            #"{"specversion":"1.0","id":"","source":"tencent-chat://","type":"io.subscriber-sync.","subject":"","time":"1969-12-31T23:59:59.999Z","recordedtime":"2023-11-14T22:13:20.123Z","sequence":"00000000000000000003","datacontenttype":"application/json","data":{"a":"\n"}}"# + "\n",
        ])
        #expect(try database.read { try SQLiteOutbox.lines(from: 2, through: 2, limit: 5, in: $0) }.map(\.sequence) == [2])
    }

    @Test func oversizedCustomStringsAreDroppedToKeepLinesSmall() throws {
        let huge = String(repeating: "\u{1}", count: 3000)  // escapes to 18 000 bytes
        let database = try open()
        try database.write { db in
            _ = try rules.updateFields(account: "@TOA#_a", subscriber: "u", version: 1, listed: SubscriberFields(msgFlag: "Discard", customString: huge),
                                       known: SubscriberFields(msgFlag: "A", customString: huge + "x"), recordedAt: 1, in: db)
        }
        let line = try #require(try lines(database).first)
        #expect(line.utf8.count < 16 * 1024)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let data = try #require(json["data"] as? [String: Any])
        #expect(data["customStringOmitted"] as? Bool == true)
        #expect(data["msgFlag"] as? String == "Discard")
    }

    @Test func eventsCommittedByAnotherConnectionAreRead() async throws {
        let storage = SQLiteStorage(path: directory.file("store.sqlite"), sdkAppID: "1400000000")
        try await storage.open()
        // Another process (a `reconcile` run) writes through its own connection to the same file.
        let other = try open()
        _ = try await other.write { try subscribe(["x"], account: "@TOA#_b", in: $0, recordedAt: 10) }
        let lease = try #require(try await storage.acquireEmitterLease(holder: "t", durationMilliseconds: 6_000))
        let batch = try await storage.nextEvents(for: lease, limit: 10)
        #expect(batch.events.count == 1)
        #expect(String(decoding: batch.events[0].line, as: UTF8.self).contains(#""subject":"x""#))
    }

    // MARK: Group commit

    /// A queue running as its service would, until the returned task is cancelled.
    func runningQueue(_ database: DatabasePool, clock: any WallClock = SystemWallClock()) -> (CommitQueue<ApplyResult>, Task<Void, any Error>) {
        let queue = CommitQueue<ApplyResult>(writer: { database }, clock: clock)
        return (queue, Task { try await queue.run() })
    }

    @Test func committedWritesShareTheirBatchCommitTime() async throws {
        let clock = FakeClock(milliseconds: 1_700_000_000_000)
        let (queue, task) = runningQueue(try open(), clock: clock)
        defer { task.cancel() }
        let first = try await queue.submit { _, recordedAt in ApplyResult(changed: Int(recordedAt - 1_700_000_000_000)) }
        clock.advance(milliseconds: 5)
        let second = try await queue.submit { _, recordedAt in ApplyResult(changed: Int(recordedAt - 1_700_000_000_000)) }
        #expect(first.changed == 0)
        #expect(second.changed == 5)
    }

    @Test func groupCommitAppliesConcurrentWorkAndOneFailingItemDoesNotUndoItsBatch() async throws {
        let database = try open()
        let (queue, task) = runningQueue(database)
        defer { task.cancel() }
        let rules = self.rules
        struct Boom: Error {}
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<200 {
                group.addTask {
                    do {
                        return try await queue.submit { db, now in
                            let result = try rules.apply(PreparedChange(.subscribers(SubscriberFacts(
                                .subscribed, account: "@TOA#_g", subscribers: ["u\(index)"], version: 1))), recordedAt: now, in: db)
                            if index % 50 == 7 { throw Boom() }
                            return result
                        }.changed
                    } catch is Boom {
                        return 0
                    }
                }
            }
            var changed = 0
            for try await result in group { changed += result }
            #expect(changed == 196)
        }
        let subscribers = try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM subscribers WHERE subscribed = 1") }
        #expect(subscribers == 196, "the four failing items are undone, their batch-mates are not")
        #expect(try await database.read { try SQLiteOutbox.newestSequence(in: $0) } == 196)
    }

    @Test func aStoppedQueueAnswersWhatWasQueuedAndRefusesMore() async throws {
        let (queue, task) = runningQueue(try open())
        let answered = try await queue.submit { _, _ in ApplyResult(changed: 1) }
        #expect(answered.changed == 1)
        #expect(queue.isRunning)
        task.cancel()
        try await task.value
        #expect(!queue.isRunning)
        await #expect(throws: CancellationError.self) { try await queue.submit { _, _ in ApplyResult() } }
    }

    /// The read API's own connections: they see each commit at once, are reused rather than
    /// reopened, are read-only, and are let go when the store closes (which reopens on next use).
    @Test func readAPIConnectionsSeeEachCommitAndEndWithTheStore() async throws {
        let storage = SQLiteStorage(path: directory.file("store.sqlite"), sdkAppID: "1400000000")
        let account = "@TOA#_readers"
        _ = try await storage.apply(.subscribers(SubscriberFacts(.subscribed, account: account, subscribers: ["a"], version: 100)))
        #expect(try await storage.subscription(account: account, subscriber: "a").record?.subscriber == "a")
        var first: SQLiteReader?
        try storage.readers.read { first = $0 }
        _ = try await storage.apply(.subscribers(SubscriberFacts(.unsubscribed, account: account, subscribers: ["a"], version: 200)))
        let after = try await storage.subscription(account: account, subscriber: "a")
        #expect(after.accountHeld && after.record == nil, "the unsubscribe committed a moment ago is seen")
        #expect(after.sequence == 2)
        try storage.readers.read { reader in
            #expect(reader === first, "an idle connection is reused")
            let write = try reader.statement(99, "DELETE FROM subscribers")
            #expect(throws: (any Error).self, "read-only") { _ = try write.step() }
            // Closed while in use: not kept when the read ends.
            storage.readers.close()
        }
        await storage.close()
        _ = try await storage.apply(.subscribers(SubscriberFacts(.subscribed, account: account, subscribers: ["b"], version: 300)))
        #expect(try await storage.subscription(account: account, subscriber: "b").record?.subscriber == "b", "reads work after a close")
        try storage.readers.read { #expect($0 !== first, "a connection taken before the close was not kept") }
        await storage.close()
    }
}
