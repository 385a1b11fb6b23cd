import Foundation
import GRDB
import Logging
import Testing
@testable import SubscriberSync

@Suite struct EventOutboxTests {
    let directory: TemporaryDirectory
    let database: DatabasePool
    let store = SubscriberStore(outbox: EventOutbox(sdkAppID: "1400000000"))
    let clock = FakeClock()

    init() throws {
        directory = try TemporaryDirectory()
        database = try StoreDatabase.open(path: directory.file("store.sqlite"))
    }

    func addSubscribers(_ count: Int, from start: Int = 0) throws {
        try database.write { db in
            _ = try store.apply(.subscribersAdded(SubscriberCallback(
                account: "@TOA#_a", operatorAccount: nil, subscribers: (start..<start + count).map { "u\($0)" }, eventTime: 1_000)),
                recordedAt: 2_000, in: db)
        }
    }

    func emitter(_ sink: any EventSink, holder: String = "test") -> EventEmitter {
        EventEmitter(database: database, sink: sink, lease: EmitterLease(holder: holder, clock: clock), logger: Logger(label: "test"), batchSize: 7)
    }

    func acquire(_ holder: String) throws -> Bool {
        try database.write { try EmitterLease(holder: holder, clock: clock).acquire(in: $0) }
    }

    func checkpoint() throws -> Int64 {
        try database.read { try EventOutbox.checkpoint(in: $0) }
    }

    func storedIDs() throws -> [String] {
        try database.read { try EventOutbox.events(after: 0, limit: 100, in: $0) }.map(\.id)
    }

    func parsed(_ line: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func rowsStoreCompactTypeAndSourceAndOlderRowsReadTheSame() throws {
        try addSubscribers(1)
        let stored = try #require(try database.read { try Row.fetchOne($0, sql: "SELECT type, source FROM outbox") })
        #expect(stored["type"] as String == "subscriber.subscribed")
        #expect(stored["source"] as String == "1400000000/%40TOA%23_a")
        // A row from before the compact form, with the full strings, reads back the same way.
        try database.write { db in
            try db.execute(sql: """
                INSERT INTO outbox (id, type, source, subject, time, recorded_time, data)
                SELECT 'legacy', 'io.subscriber-sync.subscriber.subscribed',
                       'tencent-chat://1400000000/official-accounts/%40TOA%23_a', subject, time, recorded_time, data
                FROM outbox
                """)
        }
        let events = try database.read { try EventOutbox.events(after: 0, limit: 10, in: $0) }
        try #require(events.count == 2)
        #expect(events[0].type == events[1].type)
        #expect(events[0].source == events[1].source)
        #expect(events[0].source == store.outbox.source(account: "@TOA#_a"))
        #expect(events[0].type == EventType.subscribed.attribute)
        #expect(EventOutbox.expandSource("9/%2F") == "tencent-chat://9/official-accounts/%2F")
    }

    @Test func lineIsACloudEvent() throws {
        try addSubscribers(1)
        let event = try #require(try database.read { try EventOutbox.events(after: 0, limit: 1, in: $0) }.first)
        let line = String(decoding: event.line(), as: UTF8.self)
        #expect(line.hasSuffix("}\n"))
        #expect(line.dropLast().firstIndex(of: "\n") == nil)
        let json = try parsed(line)
        #expect(json["specversion"] as? String == "1.0")
        #expect(json["id"] as? String == event.id)
        #expect(json["type"] as? String == "io.subscriber-sync.subscriber.subscribed")
        #expect(json["source"] as? String == "tencent-chat://1400000000/official-accounts/%40TOA%23_a")
        #expect(json["subject"] as? String == "u0")
        #expect(json["time"] as? String == "1970-01-01T00:00:01.000Z")
        #expect(json["recordedtime"] as? String == "1970-01-01T00:00:02.000Z")
        #expect(json["sequence"] as? String == "00000000000000000001")
        #expect(json["datacontenttype"] as? String == "application/json")
        let data = try #require(json["data"] as? [String: Any])
        #expect(data["officialAccount"] as? String == "@TOA#_a")
        #expect(data["subscriber"] as? String == "u0")
        #expect(data["origin"] as? String == "webhook")
        #expect(event.line() == event.line(), "rendering is deterministic, so re-emission is byte-identical")
    }

    /// The emitter renders from SQLite's buffers; every row must come out exactly as `line()`
    /// renders it, compact and legacy rows alike, escapes and non-ASCII included.
    @Test func emitterLinesAreByteIdenticalToStoredEventLines() throws {
        try addSubscribers(3)
        try database.write { db in
            let rows: [(String, String, String, String)] = [
                ("legacy", "io.subscriber-sync.subscriber.unsubscribed", "tencent-chat://1400000000/official-accounts/%40TOA%23_a", "u\"q"),
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
        let stored = try database.read { try EventOutbox.events(after: 0, limit: 100, in: $0) }
        let rendered = try database.read { try EventOutbox.lines(after: 0, limit: 100, in: $0) }
        try #require(stored.count == 7)
        #expect(rendered.map(\.sequence) == stored.map(\.sequence))
        for (event, line) in zip(stored, rendered) {
            #expect(line.line == event.line(), "sequence \(event.sequence)")
            #expect(try parsed(String(decoding: line.line, as: UTF8.self))["subject"] as? String == event.subject)
        }
        #expect(try database.read { try EventOutbox.lines(after: 5, limit: 1, in: $0) }.map(\.sequence) == [6])
        // Both paths share the renderer, so pin the exact bytes of a compact and a legacy row too.
        #expect(String(decoding: rendered[4].line, as: UTF8.self) == #"""
            {"specversion":"1.0","id":"no-slash","source":"tencent-chat://1400000000","type":"io.subscriber-sync.reconcile.completed","subject":"tab\there","time":"1969-12-31T23:59:59.999Z","recordedtime":"2023-11-14T22:13:20.123Z","sequence":"00000000000000000005","datacontenttype":"application/json","data":{"a":"\n"}}

            """#)
        #expect(String(decoding: rendered[3].line, as: UTF8.self).hasPrefix(#"""
            {"specversion":"1.0","id":"legacy","source":"tencent-chat://1400000000/official-accounts/%40TOA%23_a","type":"io.subscriber-sync.subscriber.unsubscribed","subject":"u\"q","time":
            """#))
    }

    @Test func committedCallbacksShareTheirBatchCommitTime() async throws {
        let clock = FakeClock(milliseconds: 1_700_000_000_000)
        let queue = CommitQueue(writer: database, clock: clock)
        let first = try await queue.submit { _, recordedAt in SubscriberStore.ApplyResult(changed: Int(recordedAt - 1_700_000_000_000)) }
        clock.advance(milliseconds: 5)
        let second = try await queue.submit { _, recordedAt in SubscriberStore.ApplyResult(changed: Int(recordedAt - 1_700_000_000_000)) }
        #expect(first.changed == 0)
        #expect(second.changed == 5)
    }

    @Test func oversizedCustomStringsAreDroppedToKeepLinesSmall() throws {
        let huge = String(repeating: "\u{1}", count: 3000)  // escapes to 18 000 bytes
        let event = ChangeEvent.subscriber(.updated, account: "@TOA#_a", subscriber: "u", time: 1, origin: .reconcile, operatorAccount: nil,
                                           fields: SubscriberFields(msgFlag: "Discard", customString: huge),
                                           previous: SubscriberFields(customString: huge))
        let line = StoredEvent(row: ["sequence": 1, "id": "x", "type": "t", "source": "s", "subject": "u", "time": 1, "recorded_time": 1,
                                     "data": String(decoding: event.data, as: UTF8.self)]).line()
        #expect(line.count < 16 * 1024)
        let data = try #require(try parsed(String(decoding: line, as: UTF8.self))["data"] as? [String: Any])
        #expect(data["customStringOmitted"] as? Bool == true)
        #expect(data["msgFlag"] as? String == "Discard")
    }

    @Test func emitterWritesInOrderAndAdvancesTheCheckpoint() async throws {
        try addSubscribers(20)
        let sink = MemoryEventSink()
        let emitter = emitter(sink)
        #expect(try acquire("test"))
        while try await emitter.emitBatch() > 0 {}
        let sequences = try sink.lines.map { try parsed($0)["sequence"] as? String }
        #expect(sequences == (1...20).map { StoredEvent.paddedSequence(Int64($0)) })
        #expect(try checkpoint() == 20)
        #expect(try await emitter.emitBatch() == 0)
    }

    /// In `serve` the checkpoint rides along with the callbacks' group commit; it must advance the
    /// same way, and still notice a lease taken over by another process.
    @Test func checkpointAdvancesThroughTheCommitQueueWhileHoldingTheLease() async throws {
        try addSubscribers(10)
        let sink = MemoryEventSink()
        let queue = CommitQueue(writer: database)
        let emitter = EventEmitter(database: database, commits: queue, sink: sink, lease: EmitterLease(holder: "test", clock: clock),
                                   logger: Logger(label: "test"), batchSize: 7)
        #expect(try acquire("test"))
        #expect(try await emitter.emitBatch() == 7)
        #expect(try checkpoint() == 7)
        // Another process takes over (the lease expired): the next advance must not count as ours.
        try await database.write { db in
            try db.execute(sql: "UPDATE emitter_state SET lease_holder = 'other', lease_expires = ? WHERE id = 1",
                           arguments: [clock.nowMilliseconds() + 60_000])
        }
        #expect(try await emitter.emitBatch() == 3)
        #expect(try checkpoint() == 7, "the checkpoint belongs to the new holder now")
        #expect(!emitter.isHoldingLease)
    }

    /// With and without the commit queue (`serve` advances the checkpoint through it).
    @Test(arguments: [false, true])
    func failedWriteLeavesTheCheckpointSoEventsAreReEmittedWithTheSameIds(throughCommitQueue: Bool) async throws {
        try addSubscribers(3)
        let sink = MemoryEventSink()
        let emitter = EventEmitter(database: database, commits: throughCommitQueue ? CommitQueue(writer: database) : nil, sink: sink,
                                   lease: EmitterLease(holder: "test", clock: clock), logger: Logger(label: "test"), batchSize: 7)
        #expect(try acquire("test"))
        sink.failWrites(true)
        await #expect(throws: EventSinkError.self) { try await emitter.emitBatch() }
        #expect(try checkpoint() == 0)
        sink.failWrites(false)
        try await emitter.emitBatch()
        let ids = try sink.lines.map { try parsed($0)["id"] as? String }
        let stored = try storedIDs()
        #expect(ids == stored)
    }

    @Test func leaseIsExclusiveUntilItExpires() throws {
        #expect(try acquire("a"))
        #expect(try !acquire("b"))
        clock.advance(milliseconds: 5_000)
        #expect(try !acquire("b"))
        #expect(try acquire("a"), "the holder renews")
        clock.advance(milliseconds: 6_001)
        #expect(try acquire("b"), "an expired lease is taken over")
        #expect(try !database.write { try EmitterLease(holder: "a", clock: clock).advance(checkpoint: 9, in: $0) },
                "the old holder may no longer move the checkpoint")
        #expect(try database.read { try EventOutbox.checkpoint(in: $0) } == 0)
    }

    @Test func eventsCommittedByAnotherConnectionAreEmitted() async throws {
        // Another process (a `reconcile` run) writes through its own connection to the same file.
        let other = try StoreDatabase.open(path: directory.file("store.sqlite"))
        try await other.write { db in
            _ = try self.store.apply(.subscribersAdded(SubscriberCallback(account: "@TOA#_b", operatorAccount: nil, subscribers: ["x"], eventTime: 9)),
                                     recordedAt: 10, in: db)
        }
        let sink = MemoryEventSink()
        let emitter = emitter(sink)
        #expect(try acquire("test"))
        try await emitter.emitBatch()
        #expect(sink.lines.count == 1)
        #expect(sink.lines.first?.contains(#""subject":"x""#) == true)
    }

    @Test func groupCommitAppliesConcurrentWorkInSharedTransactions() async throws {
        let queue = CommitQueue(writer: database)
        let store = self.store
        try await withThrowingTaskGroup(of: SubscriberStore.ApplyResult.self) { group in
            for index in 0..<200 {
                group.addTask {
                    try await queue.submit { db in
                        try store.apply(.subscribersAdded(SubscriberCallback(account: "@TOA#_g", operatorAccount: nil, subscribers: ["u\(index)"], eventTime: 1)),
                                        recordedAt: 1, in: db)
                    }
                }
            }
            var changed = 0
            for try await result in group { changed += result.changed }
            #expect(changed == 200)
        }
        let (subscribers, newest) = try await database.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM subscribers WHERE subscribed = 1") ?? 0, try EventOutbox.newestSequence(in: db))
        }
        #expect(subscribers == 200)
        #expect(newest == 200)
    }

    @Test func oneFailingItemDoesNotUndoItsBatch() async throws {
        let queue = CommitQueue(writer: database)
        let store = self.store
        struct Boom: Error {}
        let good = Task {
            try await queue.submit { db in
                try store.apply(.subscribersAdded(SubscriberCallback(account: "@TOA#_g", operatorAccount: nil, subscribers: ["ok"], eventTime: 1)), recordedAt: 1, in: db)
            }
        }
        let bad = Task {
            try await queue.submit { db in
                _ = try store.apply(.subscribersAdded(SubscriberCallback(account: "@TOA#_g", operatorAccount: nil, subscribers: ["undone"], eventTime: 1)), recordedAt: 1, in: db)
                throw Boom()
            }
        }
        #expect(try await good.value.changed == 1)
        await #expect(throws: Boom.self) { try await bad.value }
        let subscribers = try await database.read { try String.fetchAll($0, sql: "SELECT subscriber FROM subscribers") }
        #expect(subscribers == ["ok"])
    }
}

@Suite struct EventIDTests {
    @Test func idsAreUniqueUUIDShapedStrings() {
        let ids = (0..<10_000).map { _ in EventOutbox.newEventID() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(100) {
            let groups = id.split(separator: "-")
            #expect(groups.map(\.count) == [8, 4, 4, 4, 12], "\(id)")
            #expect(groups[2].first == "4")
            #expect("89ab".contains(groups[3].first!))
            #expect(id.allSatisfy { "0123456789abcdef-".contains($0) })
        }
        #expect(EventIDGenerator().next() != EventIDGenerator().next(), "processes differ by their random prefix")
        // The last 16 hex digits are the counter (with the variant bits): consecutive ids count up by one.
        let generator = EventIDGenerator()
        func counter(_ id: String) -> UInt64? { UInt64(id.split(separator: "-").suffix(2).joined(), radix: 16) }
        let (first, second) = (generator.next(), generator.next())
        #expect(counter(first) == 0x8000_0000_0000_0001)
        #expect(counter(second) == 0x8000_0000_0000_0002)
        #expect(first.prefix(23) == second.prefix(23))
    }
}
