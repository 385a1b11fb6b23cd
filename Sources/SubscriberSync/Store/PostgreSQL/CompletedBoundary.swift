import Logging
import PostgresNIO

/// A transaction id below which every transaction that can write this database is over, so its
/// outbox rows are all visible and no older one can still commit.
///
/// `pg_snapshot_xmin` would do, but it covers every database of the server: one long
/// transaction anywhere (a `CREATE DATABASE`, a report, an idle-in-transaction session of another
/// application) would hold the event stream back. This looks only at sessions of this database:
///
/// 1. `xmax`: every id at or above it is excluded anyway, and every id below it was assigned
///    before this step, so a transaction that holds one and is still running shows it in
///    `pg_stat_activity` (read fresh, after step 1, under the process array lock);
/// 2. the lowest `backend_xid` of the other sessions of this database.
///
/// The boundary is the lower of the two. The statement that then reads rows below it takes its
/// snapshot after step 2, so every such transaction's rows are visible to it. Sessions of other
/// roles show no `backend_xid` to a non-superuser; only this service (one role) writes here.
/// A store in a schema of a shared database (`PostgresLocation.ownSessions`) names its sessions
/// `subscriber-sync/SCHEMA` and looks only at those: the other stores' transactions never write
/// its outbox, and must not hold its stream back (a test holding a transaction open for seconds
/// did, in CI). Which case applies comes from the store's location, never from what the server
/// reports: a proxy may rewrite `application_name`.
/// Prepared (two-phase) transactions are not sessions: this service never prepares one.
enum CompletedBoundary {
    static func read(ownSessions: String?, on connection: PostgresConnection, logger: Logger) async throws -> UInt64 {
        var xmax: UInt64 = 0
        for try await value in try await connection.query("SELECT pg_snapshot_xmax(pg_current_snapshot())::TEXT", logger: logger)
            .decode(String.self) {
            xmax = UInt64(value) ?? 0
        }
        try await connection.query("SELECT pg_stat_clear_snapshot()", logger: logger)
        var boundary = xmax
        for try await value in try await connection.query("""
            SELECT backend_xid::TEXT FROM pg_stat_activity
            WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()
              AND (\(ownSessions)::TEXT IS NULL OR application_name = \(ownSessions))
            """, logger: logger).decode(String.self) {
            guard let short = UInt32(value) else { continue }
            boundary = min(boundary, widen(short, near: xmax))
        }
        return boundary
    }

    /// `backend_xid` is a 32-bit id. A running transaction's full id is within 2^31 of `xmax`,
    /// below it (started before the latest completion) or at or above it (started after), so its
    /// epoch is `xmax`'s, the one before, or the one after, whichever puts it nearest.
    static func widen(_ short: UInt32, near xmax: UInt64) -> UInt64 {
        let half: UInt64 = 1 << 31
        let candidate = (xmax & ~0xFFFF_FFFF) | UInt64(short)
        if candidate > xmax, candidate - xmax > half, candidate >= 1 << 32 { return candidate - (1 << 32) }
        if candidate < xmax, xmax - candidate > half { return candidate + (1 << 32) }
        return candidate
    }
}
