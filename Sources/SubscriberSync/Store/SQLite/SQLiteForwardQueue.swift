import Foundation
import GRDB
import NIOCore

/// The forward queue's statements on SQLite (see `ForwardQueue`). Lease-bound changes name the
/// lease in the same statement, so a holder that lost it changes nothing.
enum SQLiteForwardQueue {
    static func insert(_ jobs: [ForwardJob], in db: Database) throws {
        guard !jobs.isEmpty else { return }
        let statement = try db.cachedStatement(sql: """
            INSERT INTO forward_jobs (target, delivery, command, query, content_type, body, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for job in jobs {
            try statement.execute(arguments: [job.target, job.delivery, job.command, job.query, job.contentType,
                                              Data(job.body.readableBytesView), job.receivedAt])
        }
    }

    static func acquire(holder: String, now: Int64, duration: Int64, in db: Database) throws -> ForwarderLeaseGrant? {
        let epoch = try Int64.fetchOne(db, sql: """
            UPDATE forwarder_lease
            SET epoch = CASE WHEN holder IS ?1 THEN epoch ELSE epoch + 1 END, holder = ?1, expires = ?2
            WHERE id = 1 AND (holder IS NULL OR holder = ?1 OR expires < ?3)
            RETURNING epoch
            """, arguments: [holder, now + duration, now])
        return epoch.map { ForwarderLeaseGrant(holder: holder, epoch: $0, durationMilliseconds: duration) }
    }

    static func release(_ lease: ForwarderLeaseGrant, in db: Database) throws {
        try db.execute(sql: "UPDATE forwarder_lease SET holder = NULL, expires = 0 WHERE id = 1 AND holder = ? AND epoch = ?",
                       arguments: [lease.holder, lease.epoch])
    }

    private static func holds(_ lease: ForwarderLeaseGrant, in db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT holder = ? AND epoch = ? FROM forwarder_lease WHERE id = 1",
                          arguments: [lease.holder, lease.epoch]) ?? false
    }

    static func next(target: String, limit: Int, in db: Database) throws -> [ForwardJob] {
        try Row.fetchAll(db, sql: """
            SELECT id, target, delivery, command, query, content_type, body, received_at, attempts, next_attempt_at
            FROM forward_jobs WHERE target = ? AND dead_at IS NULL ORDER BY id LIMIT ?
            """, arguments: [target, limit]).map { row in
            let body: Data = row[6]
            return ForwardJob(id: row[0], target: row[1], delivery: row[2], command: row[3], query: row[4], contentType: row[5],
                              body: ByteBuffer(bytes: body), receivedAt: row[7], attempts: row[8], nextAttemptAt: row[9])
        }
    }

    static func complete(_ ids: [Int64], lease: ForwarderLeaseGrant, in db: Database) throws -> Bool {
        guard try holds(lease, in: db) else { return false }
        let statement = try db.cachedStatement(sql: "DELETE FROM forward_jobs WHERE id = ?")
        for id in ids { try statement.execute(arguments: [id]) }
        return true
    }

    static func postpone(_ id: Int64, attempts: Int, nextAttemptAt: Int64, error: String, lease: ForwarderLeaseGrant,
                         in db: Database) throws -> Bool {
        guard try holds(lease, in: db) else { return false }
        try db.execute(sql: "UPDATE forward_jobs SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND dead_at IS NULL",
                       arguments: [attempts, nextAttemptAt, error, id])
        return true
    }

    static func deadLetter(target: String, receivedBefore: Int64, at deadAt: Int64, error: String, lease: ForwarderLeaseGrant,
                           in db: Database) throws -> Int? {
        guard try holds(lease, in: db) else { return nil }
        try db.execute(sql: """
            UPDATE forward_jobs SET dead_at = ?, last_error = COALESCE(last_error, ?)
            WHERE target = ? AND dead_at IS NULL AND received_at < ?
            """, arguments: [deadAt, error, target, receivedBefore])
        return db.changesCount
    }

    static func retryDead(target: String?, in db: Database) throws -> Int {
        try db.execute(sql: """
            UPDATE forward_jobs SET dead_at = NULL, attempts = 0, next_attempt_at = 0, last_error = NULL
            WHERE dead_at IS NOT NULL AND (?1 IS NULL OR target = ?1)
            """, arguments: [target])
        return db.changesCount
    }

    static func dropDead(target: String?, in db: Database) throws -> Int {
        try db.execute(sql: "DELETE FROM forward_jobs WHERE dead_at IS NOT NULL AND (?1 IS NULL OR target = ?1)", arguments: [target])
        return db.changesCount
    }

    static func summaries(in db: Database) throws -> [ForwardTargetSummary] {
        try Row.fetchAll(db, sql: """
            SELECT t.target, t.pending, t.dead, t.oldest, h.attempts, h.next_attempt_at, h.last_error
            FROM (SELECT target, SUM(dead_at IS NULL) AS pending, SUM(dead_at IS NOT NULL) AS dead,
                         MIN(CASE WHEN dead_at IS NULL THEN received_at END) AS oldest,
                         MIN(CASE WHEN dead_at IS NULL THEN id END) AS head
                  FROM forward_jobs GROUP BY target) t
            LEFT JOIN forward_jobs h ON h.id = t.head
            ORDER BY t.target
            """).map { row in
            ForwardTargetSummary(target: row[0], pending: row[1], dead: row[2], oldestPendingAt: row[3],
                                 headAttempts: row[4] ?? 0, headNextAttemptAt: row[5], headLastError: row[6])
        }
    }
}
