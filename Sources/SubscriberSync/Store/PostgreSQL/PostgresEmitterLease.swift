import Logging
import PostgresNIO

/// The emitter lease as the one row of `emitter_state`, as on SQLite: whoever takes it from
/// someone else (or from nobody) bumps `lease_epoch`, the fencing number; renewals, numbering and
/// checkpoint moves name the epoch in the same statement, so a holder that lost the lease (paused,
/// partitioned) changes nothing.
enum PostgresEmitterLease {
    static func acquire(holder: String, now: Int64, duration: Int64, on connection: PostgresConnection,
                        logger: Logger) async throws -> EmitterLeaseGrant? {
        var epoch: Int64?
        for try await value in try await connection.query("""
            UPDATE emitter_state
            SET lease_epoch = CASE WHEN lease_holder IS NOT DISTINCT FROM \(holder) THEN lease_epoch ELSE lease_epoch + 1 END,
                lease_holder = \(holder), lease_expires = \(now + duration)
            WHERE id = 1 AND (lease_holder IS NULL OR lease_holder = \(holder) OR lease_expires < \(now))
            RETURNING lease_epoch
            """, logger: logger).decode(Int64.self) {
            epoch = value
        }
        return epoch.map { EmitterLeaseGrant(holder: holder, epoch: $0, durationMilliseconds: duration) }
    }

    static func advance(checkpoint: Int64, lease: EmitterLeaseGrant, expires: Int64, on connection: PostgresConnection,
                        logger: Logger) async throws -> Bool {
        try await connection.query("""
            UPDATE emitter_state SET checkpoint = GREATEST(checkpoint, \(checkpoint)), lease_expires = \(expires)
            WHERE id = 1 AND lease_holder = \(lease.holder) AND lease_epoch = \(lease.epoch) AND \(checkpoint) <= numbered
            RETURNING 1
            """, logger: logger).collect().count == 1
    }

    static func release(_ lease: EmitterLeaseGrant, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE emitter_state SET lease_holder = NULL, lease_expires = 0 WHERE id = 1 AND lease_holder = \(lease.holder) AND lease_epoch = \(lease.epoch)
            """, logger: logger)
    }
}
