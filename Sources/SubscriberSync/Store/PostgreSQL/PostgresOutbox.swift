import Logging
import PostgresNIO

/// The transactional outbox on PostgreSQL. Events are inserted in the transaction of the change
/// they describe, without a public number: a number taken at insert (a `BIGSERIAL`) becomes
/// visible only at commit, so a reader that has passed N could later find an N-1 that committed
/// after it. Instead the single emitter (the lease holder) numbers rows: it takes only rows whose
/// transaction is older than every transaction still running (`CompletedBoundary`), so all of
/// them are over and nothing older can appear later, orders them by (transaction, position) and
/// assigns the next numbers in the transaction that also records how far it numbered. A
/// re-emission reuses the stored numbers. Callbacks never touch a shared counter, so replicas
/// commit in parallel.
struct PostgresOutbox: Sendable {
    /// How rows store `source` (and `type` without its prefix; `EventLine` defines both forms).
    let storedSource: StoredSource

    init(sdkAppID: String) {
        storedSource = StoredSource(sdkAppID: sdkAppID)
    }

    func append(_ event: ChangeEvent, recordedAt: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO outbox (id, type, source, subject, time, recorded_time, data)
            VALUES (\(EventIDGenerator.shared.next()), \(event.type.rawValue), \(storedSource(account: event.account)), \(event.subject),
                    \(event.time), \(recordedAt), \(String(decoding: event.data, as: UTF8.self)))
            """, logger: logger)
    }

    /// For the holder of `lease`: numbers committed rows so that up to `limit` await emission.
    /// nil when the lease was lost (nothing is numbered then). Returns the checkpoint, and whether
    /// committed rows were left unnumbered because an older transaction is still running.
    static func number(upTo limit: Int, for lease: EmitterLeaseGrant, ownSessions: String?, on connection: PostgresConnection,
                       logger: Logger) async throws -> (checkpoint: Int64, waiting: Bool)? {
        // The row lock also keeps an ex-holder that has not noticed yet from numbering alongside.
        guard let state = try await lockState(holder: lease.holder, epoch: lease.epoch, on: connection, logger: logger) else { return nil }
        let wanted = Int64(limit) - (state.numbered - state.checkpoint)
        let assigned = try await number(wanted, after: state.numbered, ownSessions: ownSessions, on: connection, logger: logger)
        guard wanted > 0, assigned < wanted else { return (state.checkpoint, false) }
        return (state.checkpoint, try await hasUnnumbered(on: connection, logger: logger))
    }

    private static func hasUnnumbered(on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await !connection.query("SELECT 1 FROM outbox WHERE sequence IS NULL LIMIT 1", logger: logger).collect().isEmpty
    }

    /// For readers of the stored events (replay, tests): numbers what has committed, up to
    /// `sequence`. Whoever numbers holds the state row's lock, so numbers stay in order and unique
    /// whichever process assigns them. Returns false while committed rows remain unnumbered
    /// because an older transaction is still running (`CompletedBoundary`).
    static func number(through sequence: Int64, limit: Int, ownSessions: String?, on connection: PostgresConnection,
                       logger: Logger) async throws -> Bool {
        guard let state = try await lockState(holder: nil, epoch: nil, on: connection, logger: logger), state.numbered < sequence else { return true }
        let wanted = min(Int64(limit), sequence - state.numbered)
        let assigned = try await number(wanted, after: state.numbered, ownSessions: ownSessions, on: connection, logger: logger)
        guard assigned < wanted else { return true }
        return try await !hasUnnumbered(on: connection, logger: logger)
    }

    private static func lockState(holder: String?, epoch: Int64?, on connection: PostgresConnection,
                                  logger: Logger) async throws -> (checkpoint: Int64, numbered: Int64)? {
        var state: (checkpoint: Int64, numbered: Int64)?
        for try await row in try await connection.query("""
            SELECT checkpoint, numbered FROM emitter_state
            WHERE id = 1 AND (\(holder)::TEXT IS NULL OR (lease_holder = \(holder) AND lease_epoch = \(epoch)))
            FOR UPDATE
            """, logger: logger).decode((Int64, Int64).self) {
            state = row
        }
        return state
    }

    /// Assigns `after + 1 …` to up to `count` unnumbered rows of transactions that are certainly
    /// over, in (transaction, position) order.
    @discardableResult
    private static func number(_ count: Int64, after numbered: Int64, ownSessions: String?, on connection: PostgresConnection,
                               logger: Logger) async throws -> Int64 {
        guard count > 0 else { return 0 }
        let boundary = try await CompletedBoundary.read(ownSessions: ownSessions, on: connection, logger: logger)
        var assigned: Int64 = 0
        for try await value in try await connection.query("""
            WITH numbered AS (
                UPDATE outbox o SET sequence = n.sequence
                FROM (SELECT position, \(numbered)::BIGINT + row_number() OVER (ORDER BY xid, position) AS sequence
                      FROM (SELECT position, xid FROM outbox
                            WHERE sequence IS NULL AND xid < \(String(boundary))::TEXT::xid8
                            ORDER BY xid, position LIMIT \(count)) AS pending) AS n
                WHERE o.position = n.position
                RETURNING 1
            )
            SELECT COUNT(*) FROM numbered
            """, logger: logger).decode(Int64.self) {
            assigned = value
        }
        if assigned > 0 {
            try await connection.query("UPDATE emitter_state SET numbered = numbered + \(assigned) WHERE id = 1", logger: logger)
        }
        return assigned
    }

    /// Numbered events with `sequence` in `first...last`, oldest first, rendered as the emitter
    /// writes them.
    static func lines(from first: Int64, through last: Int64 = .max, limit: Int, on connection: PostgresConnection,
                      logger: Logger) async throws -> [RenderedEvent] {
        var rendered: [RenderedEvent] = []
        let rows = try await connection.query("""
            SELECT sequence, id, type, source, subject, time, recorded_time, data
            FROM outbox WHERE sequence >= \(first) AND sequence <= \(last) ORDER BY sequence LIMIT \(Int64(limit))
            """, logger: logger)
        for try await (sequence, id, type, source, subject, time, recordedTime, data)
            in rows.decode((Int64, String, String, String, String, Int64, Int64, String).self) {
            rendered.append(RenderedEvent(sequence: sequence, line: render(
                sequence: sequence, id: id, type: type, source: source, subject: subject, time: time, recordedTime: recordedTime, data: data)))
        }
        return rendered
    }

    private static func render(sequence: Int64, id: String, type: String, source: String, subject: String, time: Int64,
                               recordedTime: Int64, data: String) -> [UInt8] {
        var (id, type, source, subject, data) = (id, type, source, subject, data)
        return id.withUTF8 { id in type.withUTF8 { type in source.withUTF8 { source in subject.withUTF8 { subject in data.withUTF8 { data in
            EventLine.render(EventLine.Columns(
                sequence: sequence, id: UnsafeRawBufferPointer(id), type: UnsafeRawBufferPointer(type), source: UnsafeRawBufferPointer(source),
                subject: UnsafeRawBufferPointer(subject), time: time, recordedTime: recordedTime, data: UnsafeRawBufferPointer(data)))
        } } } } }
    }

    /// How far the emitter is: recorded events count as pending until written, numbered or not.
    static func progress(on connection: PostgresConnection, logger: Logger) async throws -> EmitterProgress {
        var progress = EmitterProgress(checkpoint: 0, newest: 0, oldestPendingRecordedAt: nil)
        for try await (checkpoint, numbered, unnumbered, oldest) in try await connection.query("""
            SELECT e.checkpoint, e.numbered,
                   (SELECT COUNT(*) FROM outbox WHERE sequence IS NULL),
                   LEAST((SELECT recorded_time FROM outbox WHERE sequence IS NULL ORDER BY xid, position LIMIT 1),
                         (SELECT recorded_time FROM outbox WHERE sequence = e.checkpoint + 1))
            FROM emitter_state e WHERE e.id = 1
            """, logger: logger).decode((Int64, Int64, Int64, Int64?).self) {
            progress = EmitterProgress(checkpoint: checkpoint, newest: numbered + unnumbered, oldestPendingRecordedAt: oldest)
        }
        return progress
    }

    static func oldestSequence(on connection: PostgresConnection, logger: Logger) async throws -> Int64? {
        var oldest: Int64?
        for try await value in try await connection.query("SELECT MIN(sequence) FROM outbox", logger: logger).decode(Int64?.self) {
            oldest = value
        }
        return oldest
    }

    /// As on SQLite: among the oldest `window` numbered rows, those emitted (at or below the
    /// checkpoint, read under the caller's lease) and recorded before `recordedBefore`, never the
    /// newest numbered one.
    static func deleteEmitted(recordedBefore: Int64, window: Int, lease: EmitterLeaseGrant, on connection: PostgresConnection,
                              logger: Logger) async throws -> Int {
        try await connection.query("""
            WITH state AS (SELECT checkpoint, numbered FROM emitter_state
                           WHERE id = 1 AND lease_holder = \(lease.holder) AND lease_epoch = \(lease.epoch) FOR SHARE),
                 oldest AS (SELECT position, sequence, recorded_time FROM outbox WHERE sequence IS NOT NULL
                            ORDER BY sequence LIMIT \(Int64(window)))
            DELETE FROM outbox WHERE position IN (
                SELECT o.position FROM oldest o, state s
                WHERE o.recorded_time < \(recordedBefore) AND o.sequence <= s.checkpoint AND o.sequence < s.numbered)
            RETURNING 1
            """, logger: logger).collect().count
    }
}
