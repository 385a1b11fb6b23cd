import GRDB

/// The transactional outbox on SQLite: events are inserted in the same transaction as the change
/// they describe, and the emitter later writes them out in `sequence` order.
struct SQLiteOutbox: Sendable {
    /// How rows store `source` (and `type` without its prefix; `EventLine` defines both forms).
    let storedSource: StoredSource

    init(sdkAppID: String) {
        storedSource = StoredSource(sdkAppID: sdkAppID)
    }

    /// Records `event` inside the caller's transaction. Sequence numbers are rowids assigned under
    /// the single write lock (MAX + 1; a trigger keeps the newest row), so committed sequences never
    /// have gaps: a rolled-back insert takes its number back with it.
    func append(_ event: ChangeEvent, recordedAt: Int64, in db: Database) throws {
        let insert = BoundStatement(try db.cachedStatement(sql: """
            INSERT INTO outbox (id, type, source, subject, time, recorded_time, data) VALUES (?, ?, ?, ?, ?, ?, ?)
            """))
        try insert.bind(1, EventIDGenerator.shared.next())
        try insert.bind(2, event.type.rawValue)
        try insert.bind(3, storedSource(account: event.account))
        try insert.bind(4, event.subject)
        try insert.bind(5, event.time)
        try insert.bind(6, recordedAt)
        try insert.bind(7, event.data)
        try insert.execute()
    }

    /// Events with `sequence` in `first...last`, oldest first, rendered straight from SQLite's
    /// column buffers (see `EventLine`): the emitter's path, and replay's.
    static func lines(from first: Int64, through last: Int64 = .max, limit: Int, in db: Database) throws -> [RenderedEvent] {
        let select = BoundStatement(try db.cachedStatement(sql: """
            SELECT sequence, id, type, source, subject, time, recorded_time, data
            FROM outbox WHERE sequence >= ? AND sequence <= ? ORDER BY sequence LIMIT ?
            """))
        try select.bind(1, first)
        try select.bind(2, last)
        try select.bind(3, Int64(limit))
        var rendered: [RenderedEvent] = []
        rendered.reserveCapacity(min(limit, 4096))
        while try select.step() {
            let sequence = select.int64(0)
            let line = EventLine.render(EventLine.Columns(
                sequence: sequence, id: select.text(1), type: select.text(2), source: select.text(3),
                subject: select.text(4), time: select.int64(5), recordedTime: select.int64(6), data: select.text(7)))
            rendered.append(RenderedEvent(sequence: sequence, line: line))
        }
        return rendered
    }

    static func newestSequence(in db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(sequence), 0) FROM outbox") ?? 0
    }

    static func checkpoint(in db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT checkpoint FROM emitter_state WHERE id = 1") ?? 0
    }

    /// When the oldest event not yet written was recorded, or nil when the emitter is caught up.
    static func oldestPendingRecordedTime(in db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: """
            SELECT recorded_time FROM outbox WHERE sequence > (SELECT checkpoint FROM emitter_state WHERE id = 1)
            ORDER BY sequence LIMIT 1
            """)
    }

    static func oldestSequence(in db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT MIN(sequence) FROM outbox")
    }

    /// Looks at the oldest `window` rows only (bounded work whatever the outbox holds; they are
    /// the oldest by `recorded_time` too, which grows with the sequence on the one commit thread).
    /// The checkpoint is read under the caller's lease, so a holder that lost it deletes nothing.
    static func deleteEmitted(recordedBefore: Int64, window: Int, lease: EmitterLeaseGrant, in db: Database) throws -> Int {
        try db.execute(sql: """
            DELETE FROM outbox WHERE sequence IN (
                SELECT sequence FROM (SELECT sequence, recorded_time FROM outbox ORDER BY sequence LIMIT ?1)
                WHERE recorded_time < ?2
                  AND sequence <= (SELECT checkpoint FROM emitter_state WHERE id = 1 AND lease_holder = ?3 AND lease_epoch = ?4)
                  AND sequence < (SELECT MAX(sequence) FROM outbox))
            """, arguments: [window, recordedBefore, lease.holder, lease.epoch])
        return db.changesCount
    }
}
