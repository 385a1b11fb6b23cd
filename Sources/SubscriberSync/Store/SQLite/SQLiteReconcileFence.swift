import GRDB

/// Keeps a pass's writes and a new holder's taking of the reconciler's lease from interleaving:
/// each write of a pass checks, inside its own transaction, that the lease is still the pass's.
/// Writes serialise on SQLite (GRDB's write transactions are `IMMEDIATE`), so a lease taken after
/// the check waits for the transaction, and the pass's next write sees it.
enum SQLiteReconcileFence {
    /// Throws `ReconcileLeaseLost` when another process holds the lease now. nil: nothing to check.
    static func check(_ lease: ReconcileLeaseGrant?, in db: Database) throws {
        guard let lease else { return }
        let held = try Int64.fetchOne(db, sql: "SELECT 1 FROM reconcile_lease WHERE id = 1 AND holder = ? AND epoch = ?",
                                      arguments: [lease.holder, lease.epoch])
        if held == nil { throw ReconcileLeaseLost() }
    }
}
