import Logging
import NIOCore
import PostgresNIO

/// The forward queue's statements on PostgreSQL (see `ForwardQueue`).
///
/// Order: a `BIGSERIAL` becomes visible at commit, so reading by id alone could deliver job 10
/// while job 9 of a slower transaction is still in flight, then 9 after it. Each job stores its
/// transaction id instead, and the forwarder reads only jobs of transactions below the oldest
/// one still running, in (xid, id) order: any job that becomes visible later has a higher xid
/// than everything already read, so a target never gets an older job after a newer one (as the
/// emitter numbers events, `PostgresOutbox`).
///
/// Fencing: lease-bound statements lock the lease row (`FOR SHARE`) and act only while it names
/// the caller's holder and epoch, so a takeover waits for them and they for it.
enum PostgresForwardQueue {
    static func insert(_ jobs: [ForwardJob], on connection: PostgresConnection, logger: Logger) async throws {
        guard !jobs.isEmpty else { return }
        let (targets, deliveries, commands) = (jobs.map(\.target), jobs.map(\.delivery), jobs.map(\.command))
        let (queries, contentTypes, bodies, receivedAt) = (jobs.map(\.query), jobs.map(\.contentType), jobs.map(\.body), jobs.map(\.receivedAt))
        try await connection.query("""
            INSERT INTO forward_jobs (target, delivery, command, query, content_type, body, received_at)
            SELECT target, delivery, command, query, content_type, body, received_at
            FROM UNNEST(\(targets)::text[], \(deliveries)::text[], \(commands)::text[], \(queries)::text[],
                        \(contentTypes)::text[], \(bodies)::bytea[], \(receivedAt)::bigint[])
                 WITH ORDINALITY AS job(target, delivery, command, query, content_type, body, received_at, position)
            ORDER BY position
            """, logger: logger)
    }

    static func acquire(holder: String, now: Int64, duration: Int64, on connection: PostgresConnection,
                        logger: Logger) async throws -> ForwarderLeaseGrant? {
        var epoch: Int64?
        for try await value in try await connection.query("""
            UPDATE forwarder_lease
            SET epoch = CASE WHEN holder IS NOT DISTINCT FROM \(holder) THEN epoch ELSE epoch + 1 END,
                holder = \(holder), expires = \(now + duration)
            WHERE id = 1 AND (holder IS NULL OR holder = \(holder) OR expires < \(now))
            RETURNING epoch
            """, logger: logger).decode(Int64.self) {
            epoch = value
        }
        return epoch.map { ForwarderLeaseGrant(holder: holder, epoch: $0, durationMilliseconds: duration) }
    }

    static func release(_ lease: ForwarderLeaseGrant, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE forwarder_lease SET holder = NULL, expires = 0 WHERE id = 1 AND holder = \(lease.holder) AND epoch = \(lease.epoch)
            """, logger: logger)
    }

    private static func holds(_ lease: ForwarderLeaseGrant, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await connection.query("""
            SELECT 1 FROM forwarder_lease WHERE id = 1 AND holder = \(lease.holder) AND epoch = \(lease.epoch) FOR SHARE
            """, logger: logger).collect().count == 1
    }

    /// Jobs of transactions that are certainly over (`CompletedBoundary`, as for the outbox), so
    /// that none of an older transaction can still commit behind them and break the order.
    static func next(target: String, limit: Int, ownSessions: String?, on connection: PostgresConnection, logger: Logger) async throws -> [ForwardJob] {
        let boundary = try await CompletedBoundary.read(ownSessions: ownSessions, on: connection, logger: logger)
        var jobs: [ForwardJob] = []
        let rows = try await connection.query("""
            SELECT id, target, delivery, command, query, content_type, body, received_at, attempts, next_attempt_at
            FROM forward_jobs
            WHERE target = \(target) AND dead_at IS NULL AND xid < \(String(boundary))::TEXT::xid8
            ORDER BY xid, id LIMIT \(limit)
            """, logger: logger)
        for try await row in rows {
            let (id, target, delivery, command, query, contentType, body, receivedAt, attempts, nextAttemptAt)
                = try row.decode((Int64, String, String, String, String, String, ByteBuffer, Int64, Int32, Int64).self)
            jobs.append(ForwardJob(id: id, target: target, delivery: delivery, command: command, query: query, contentType: contentType,
                                   body: body, receivedAt: receivedAt, attempts: Int(attempts), nextAttemptAt: nextAttemptAt))
        }
        return jobs
    }

    static func complete(_ ids: [Int64], lease: ForwarderLeaseGrant, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        guard try await holds(lease, on: connection, logger: logger) else { return false }
        try await connection.query("DELETE FROM forward_jobs WHERE id = ANY(\(ids)::bigint[])", logger: logger)
        return true
    }

    static func postpone(_ id: Int64, attempts: Int, nextAttemptAt: Int64, error: String, lease: ForwarderLeaseGrant,
                         on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        guard try await holds(lease, on: connection, logger: logger) else { return false }
        try await connection.query("""
            UPDATE forward_jobs SET attempts = \(Int32(clamping: attempts)), next_attempt_at = \(nextAttemptAt), last_error = \(error)
            WHERE id = \(id) AND dead_at IS NULL
            """, logger: logger)
        return true
    }

    static func deadLetter(target: String, receivedBefore: Int64, at deadAt: Int64, error: String, lease: ForwarderLeaseGrant,
                           on connection: PostgresConnection, logger: Logger) async throws -> Int? {
        guard try await holds(lease, on: connection, logger: logger) else { return nil }
        return try await connection.query("""
            UPDATE forward_jobs SET dead_at = \(deadAt), last_error = COALESCE(last_error, \(error))
            WHERE target = \(target) AND dead_at IS NULL AND received_at < \(receivedBefore)
            RETURNING 1
            """, logger: logger).collect().count
    }

    static func retryDead(target: String?, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        try await connection.query("""
            UPDATE forward_jobs SET dead_at = NULL, attempts = 0, next_attempt_at = 0, last_error = NULL
            WHERE dead_at IS NOT NULL AND (\(target)::text IS NULL OR target = \(target))
            RETURNING 1
            """, logger: logger).collect().count
    }

    static func dropDead(target: String?, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        try await connection.query("""
            DELETE FROM forward_jobs WHERE dead_at IS NOT NULL AND (\(target)::text IS NULL OR target = \(target)) RETURNING 1
            """, logger: logger).collect().count
    }

    static func summaries(on connection: PostgresConnection, logger: Logger) async throws -> [ForwardTargetSummary] {
        var summaries: [ForwardTargetSummary] = []
        let rows = try await connection.query("""
            SELECT t.target, t.pending, t.dead, t.oldest, h.attempts, h.next_attempt_at, h.last_error
            FROM (SELECT target, COUNT(*) FILTER (WHERE dead_at IS NULL) AS pending, COUNT(*) FILTER (WHERE dead_at IS NOT NULL) AS dead,
                         MIN(received_at) FILTER (WHERE dead_at IS NULL) AS oldest
                  FROM forward_jobs GROUP BY target) t
            LEFT JOIN LATERAL (SELECT attempts, next_attempt_at, last_error FROM forward_jobs
                               WHERE target = t.target AND dead_at IS NULL ORDER BY xid, id LIMIT 1) h ON true
            ORDER BY t.target
            """, logger: logger)
        for try await row in rows {
            let (target, pending, dead, oldest, attempts, nextAttemptAt, lastError)
                = try row.decode((String, Int64, Int64, Int64?, Int32?, Int64?, String?).self)
            summaries.append(ForwardTargetSummary(target: target, pending: Int(pending), dead: Int(dead), oldestPendingAt: oldest,
                                                  headAttempts: Int(attempts ?? 0), headNextAttemptAt: nextAttemptAt, headLastError: lastError))
        }
        return summaries
    }
}
