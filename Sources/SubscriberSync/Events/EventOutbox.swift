import Foundation
import GRDB

/// The transactional outbox: events are inserted in the same transaction as the change they
/// describe, and the emitter later writes them out in `sequence` order.
public struct EventOutbox: Sendable {
    public let sdkAppID: String
    /// Every event of an account has the same source; encoding it once per event was measurable.
    private let sources = BoundedCache<String, String>(capacity: 1024)

    public init(sdkAppID: String) {
        self.sdkAppID = sdkAppID
    }

    /// `tencent-chat://<sdkappid>/official-accounts/<account>`, the account percent-encoded
    /// (everything but RFC 3986 unreserved characters; `@TOA#_x` becomes `%40TOA%23_x`).
    public func source(account: String) -> String {
        Self.expandSource(storedSource(account: account))
    }

    /// How rows store their `source` and `type`: `<sdkappid>/<encoded account>` and the type
    /// without its prefix. A first sync writes a million rows, and the full strings were a fifth
    /// of each row's bytes. Rows written before this was introduced hold the full strings; both
    /// read back the same (`StoredEvent`).
    func storedSource(account: String) -> String {
        if let known = sources.lookup(account) { return known }
        let source = "\(PercentEncoding.encode(sdkAppID))/\(PercentEncoding.encode(account))"
        sources.remember(account, source)
        return source
    }

    /// A stored `source` or `type` as the full attribute (`EventLine` defines the stored forms).
    static func expandSource(_ stored: String) -> String {
        expanded(stored, by: EventLine.expandSource)
    }

    static func expandType(_ stored: String) -> String {
        expanded(stored, by: EventLine.expandType)
    }

    private static func expanded(_ stored: String,
                                 by expand: (UnsafeRawBufferPointer, (UnsafeRawBufferPointer) -> Void) -> Void) -> String {
        var stored = stored
        var bytes: [UInt8] = []
        stored.withUTF8 { expand(UnsafeRawBufferPointer($0)) { bytes.append(contentsOf: $0) } }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Records `event` inside the caller's transaction. Sequence numbers are rowids assigned under
    /// the single write lock (MAX + 1; a trigger keeps the newest row), so committed sequences never
    /// have gaps: a rolled-back insert takes its number back with it.
    public func append(_ event: ChangeEvent, recordedAt: Int64, in db: Database) throws {
        let insert = BoundStatement(try db.cachedStatement(sql: """
            INSERT INTO outbox (id, type, source, subject, time, recorded_time, data) VALUES (?, ?, ?, ?, ?, ?, ?)
            """))
        try insert.bind(1, Self.newEventID())
        try insert.bind(2, event.type.rawValue)
        try insert.bind(3, storedSource(account: event.account))
        try insert.bind(4, event.subject)
        try insert.bind(5, event.time)
        try insert.bind(6, recordedAt)
        try insert.bind(7, event.data)
        try insert.execute()
    }

    /// A unique event id in UUID form. `UUID()` opens and reads /dev/urandom on every call (7% of
    /// the server's CPU at full ingest); a random per-process prefix and a counter are as unique.
    public static func newEventID() -> String {
        EventIDGenerator.shared.next()
    }

    /// Events after `sequence`, oldest first.
    public static func events(after sequence: Int64, limit: Int, in db: Database) throws -> [StoredEvent] {
        try StoredEvent.fetchAll(db, sql: """
            SELECT sequence, id, type, source, subject, time, recorded_time, data
            FROM outbox WHERE sequence > ? ORDER BY sequence LIMIT ?
            """, arguments: [sequence, limit])
    }

    /// An event ready for the sink: its sequence and its rendered line.
    public struct RenderedEvent: Sendable {
        public let sequence: Int64
        public let line: [UInt8]
    }

    /// Events after `sequence`, oldest first, rendered straight from the rows (the emitter's path;
    /// the same bytes as `events(after:limit:in:)` followed by `line()`).
    public static func lines(after sequence: Int64, limit: Int, in db: Database) throws -> [RenderedEvent] {
        let select = BoundStatement(try db.cachedStatement(sql: """
            SELECT sequence, id, type, source, subject, time, recorded_time, data
            FROM outbox WHERE sequence > ? ORDER BY sequence LIMIT ?
            """))
        try select.bind(1, sequence)
        try select.bind(2, Int64(limit))
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

    public static func newestSequence(in db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(sequence), 0) FROM outbox") ?? 0
    }

    public static func checkpoint(in db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT checkpoint FROM emitter_state WHERE id = 1") ?? 0
    }

    /// When the oldest event not yet written was recorded, or nil when the emitter is caught up.
    public static func oldestPendingRecordedTime(in db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: """
            SELECT recorded_time FROM outbox WHERE sequence > (SELECT checkpoint FROM emitter_state WHERE id = 1)
            ORDER BY sequence LIMIT 1
            """)
    }
}

/// An outbox row; rendering it is deterministic, so a re-emitted event is byte-identical.
public struct StoredEvent: Sendable, FetchableRecord, Equatable {
    public var sequence: Int64
    public var id: String
    public var type: String
    public var source: String
    public var subject: String
    public var time: Int64
    public var recordedTime: Int64
    public var data: String

    public init(row: Row) {
        sequence = row[0]
        id = row[1]
        type = EventOutbox.expandType(row[2])
        source = EventOutbox.expandSource(row[3])
        subject = row[4]
        time = row[5]
        recordedTime = row[6]
        data = row[7]
    }

    /// The CloudEvents 1.0 structured-mode JSON line, newline included.
    public func line() -> [UInt8] {
        var (id, type, source, subject, data) = (id, type, source, subject, data)
        return id.withUTF8 { id in type.withUTF8 { type in source.withUTF8 { source in
            subject.withUTF8 { subject in data.withUTF8 { data in
                EventLine.render(EventLine.Columns(
                    sequence: sequence, id: UnsafeRawBufferPointer(id), type: UnsafeRawBufferPointer(type),
                    source: UnsafeRawBufferPointer(source), subject: UnsafeRawBufferPointer(subject), time: time,
                    recordedTime: recordedTime, data: UnsafeRawBufferPointer(data)))
            } }
        } } }
    }

    /// Twenty digits: every Int64 fits, and lexical order equals numeric order.
    static func paddedSequence(_ sequence: Int64) -> String {
        var digits: [UInt8] = []
        Timestamps.appendDigits(sequence, width: 20, to: &digits)
        return String(decoding: digits, as: UTF8.self)
    }
}
