import GRDB
import Testing
@testable import SubscriberSync

@Suite struct SQLiteSchemaTests {
    /// A database as the v2 schema left it: the outbox numbered by AUTOINCREMENT.
    func v2Database(at path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try SQLiteSchema.migrator.migrate(queue, upTo: "v2-reconcile")
        let store = SQLiteSubscriberRules(outbox: SQLiteOutbox(sdkAppID: "1400000000"))
        try queue.write { db in
            _ = try store.apply(PreparedChange(.subscribers(SubscriberFacts(.subscribed, account: "@TOA#_a", subscribers: ["u1", "u2", "u3"], version: 1_000, operatorAccount: "admin"))),
                recordedAt: 2_000, in: db)
            try db.execute(sql: "UPDATE emitter_state SET checkpoint = 2 WHERE id = 1")
        }
        let autoincrement = try queue.read { try String.fetchOne($0, sql: "SELECT sql FROM sqlite_master WHERE name = 'outbox'") }
        #expect(autoincrement?.contains("AUTOINCREMENT") == true)
    }

    @Test func outboxMigrationKeepsEveryRowAndItsSequence() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("store.sqlite")
        try v2Database(at: path)
        let before = try DatabaseQueue(path: path).read { try SQLiteOutbox.lines(from: 1, limit: 10, in: $0) }
        try #require(before.map(\.sequence) == [1, 2, 3])

        let database = try SQLiteDatabase.open(path: path)
        let after = try database.read { try SQLiteOutbox.lines(from: 1, limit: 10, in: $0) }
        #expect(after == before)
                #expect(try database.read { try SQLiteOutbox.checkpoint(in: $0) } == 2)
        let schema = try database.read { db in
            try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'outbox'")
        }
        #expect(schema?.contains("AUTOINCREMENT") == false)
        #expect(try database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM sqlite_sequence WHERE name = 'outbox'") } == 0)
    }

    @Test func sequencesContinueWithoutGapsAfterTheMigrationAndAfterARollback() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("store.sqlite")
        try v2Database(at: path)
        let database = try SQLiteDatabase.open(path: path)
        let store = SQLiteSubscriberRules(outbox: SQLiteOutbox(sdkAppID: "1400000000"))
        func add(_ subscriber: String) throws {
            try database.write { db in
                _ = try store.apply(PreparedChange(.subscribers(SubscriberFacts(.subscribed, account: "@TOA#_a", subscribers: [subscriber], version: 3_000, operatorAccount: nil))),
                    recordedAt: 4_000, in: db)
            }
        }
        struct Abandon: Error {}
        try add("u4")
        #expect(throws: Abandon.self) {
            try database.write { db in
                _ = try store.apply(PreparedChange(.subscribers(SubscriberFacts(.subscribed, account: "@TOA#_a", subscribers: ["rolled-back"], version: 3_000, operatorAccount: nil))),
                    recordedAt: 4_000, in: db)
                throw Abandon()
            }
        }
        try add("u5")
        let events = try database.read { try SQLiteOutbox.lines(from: 1, limit: 10, in: $0) }
        #expect(events.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(events.map { String(decoding: $0.line, as: UTF8.self) }.map { $0.contains(#""subject":"u"#) } == Array(repeating: true, count: 5))
    }

    /// The risk AUTOINCREMENT guarded against: with the newest rows deleted, a plain rowid would
    /// hand out numbers at or below the emitter's checkpoint again, and those events would never
    /// be emitted. The trigger refuses that delete; older rows may go, and numbering continues.
    @Test func theNewestOutboxRowCannotBeDeleted() throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase.open(path: directory.file("store.sqlite"))
        let store = SQLiteSubscriberRules(outbox: SQLiteOutbox(sdkAppID: "1400000000"))
        func add(_ subscribers: [String]) throws {
            try database.write { db in
                _ = try store.apply(PreparedChange(.subscribers(SubscriberFacts(.subscribed, account: "@TOA#_a", subscribers: subscribers, version: 3_000, operatorAccount: nil))),
                    recordedAt: 4_000, in: db)
            }
        }
        try add(["u1", "u2", "u3"])
        #expect(throws: DatabaseError.self) {
            try database.write { try $0.execute(sql: "DELETE FROM outbox") }
        }
        #expect(throws: DatabaseError.self) {
            try database.write { try $0.execute(sql: "DELETE FROM outbox WHERE sequence = 3") }
        }
        #expect(try database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox") } == 3, "a refused delete removes nothing")
        try database.write { try $0.execute(sql: "DELETE FROM outbox WHERE sequence < 3") }
        try add(["u4"])
        let sequences = try database.read { try SQLiteOutbox.lines(from: 1, limit: 10, in: $0) }.map(\.sequence)
        #expect(sequences == [3, 4])
    }
}
