import GRDB

/// One emitter per database: the holder renews a lease row; a crashed holder's lease expires and
/// another process takes over. With a 6 s lease renewed every 2 s and contenders retrying every
/// second, a crashed holder is replaced within 7 s.
public struct EmitterLease: Sendable {
    public let holder: String
    public let duration: Int64
    public let clock: any WallClock

    public init(holder: String, durationMilliseconds: Int64 = 6_000, clock: any WallClock = SystemWallClock()) {
        self.holder = holder
        self.duration = durationMilliseconds
        self.clock = clock
    }

    /// Takes or renews the lease; false while another live holder has it.
    public func acquire(in db: Database) throws -> Bool {
        let now = clock.nowMilliseconds()
        try db.execute(sql: """
            UPDATE emitter_state SET lease_holder = ?, lease_expires = ?
            WHERE id = 1 AND (lease_holder IS NULL OR lease_holder = ? OR lease_expires < ?)
            """, arguments: [holder, now + duration, holder, now])
        return db.changesCount == 1
    }

    /// Advances the checkpoint and renews the lease, only while still holding it.
    public func advance(checkpoint: Int64, in db: Database) throws -> Bool {
        try db.execute(sql: """
            UPDATE emitter_state SET checkpoint = ?, lease_expires = ? WHERE id = 1 AND lease_holder = ?
            """, arguments: [checkpoint, clock.nowMilliseconds() + duration, holder])
        return db.changesCount == 1
    }

    public func release(in db: Database) throws {
        try db.execute(sql: "UPDATE emitter_state SET lease_holder = NULL, lease_expires = 0 WHERE id = 1 AND lease_holder = ?",
                       arguments: [holder])
    }
}
