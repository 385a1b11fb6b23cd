import GRDB

/// The emitter lease as one row of `emitter_state`. Whoever takes it from someone else (or from
/// nobody) bumps `lease_epoch`, the fencing number; renewals and checkpoint moves name the epoch,
/// so a holder that lost the lease changes nothing.
enum SQLiteEmitterLease {
    static func acquire(holder: String, now: Int64, duration: Int64, in db: Database) throws -> EmitterLeaseGrant? {
        let epoch = try Int64.fetchOne(db, sql: """
            UPDATE emitter_state
            SET lease_epoch = CASE WHEN lease_holder IS ?1 THEN lease_epoch ELSE lease_epoch + 1 END,
                lease_holder = ?1, lease_expires = ?2
            WHERE id = 1 AND (lease_holder IS NULL OR lease_holder = ?1 OR lease_expires < ?3)
            RETURNING lease_epoch
            """, arguments: [holder, now + duration, now])
        return epoch.map { EmitterLeaseGrant(holder: holder, epoch: $0, durationMilliseconds: duration) }
    }

    /// Advances the checkpoint and renews the lease, only while `lease` still holds it.
    static func advance(checkpoint: Int64, lease: EmitterLeaseGrant, expires: Int64, in db: Database) throws -> Bool {
        try db.execute(sql: """
            UPDATE emitter_state SET checkpoint = ?, lease_expires = ? WHERE id = 1 AND lease_holder = ? AND lease_epoch = ?
            """, arguments: [checkpoint, expires, lease.holder, lease.epoch])
        return db.changesCount == 1
    }

    static func release(_ lease: EmitterLeaseGrant, in db: Database) throws {
        try db.execute(sql: """
            UPDATE emitter_state SET lease_holder = NULL, lease_expires = 0 WHERE id = 1 AND lease_holder = ? AND lease_epoch = ?
            """, arguments: [lease.holder, lease.epoch])
    }
}
