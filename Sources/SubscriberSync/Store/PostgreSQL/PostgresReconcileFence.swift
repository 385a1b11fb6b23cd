import Logging
import PostgresNIO

/// Keeps a pass's writes and a new holder's taking of the reconciler's lease from interleaving,
/// without locking the lease row: a row lock would also hold up the pass's own renewals (an add
/// chunk can take seconds), and a renewal that waits past its deadline recycles the pool.
///
/// Every write of a pass holds a transaction-scoped advisory lock in shared mode, then checks
/// that the lease is still the pass's; taking the lease tries the same lock in exclusive mode
/// and fails while a write runs (its holder is alive and writing). So either the write sees the
/// new holder and writes nothing, or the new holder waits for the next try.
enum PostgresReconcileFence {
    /// The two-key form, a space of its own apart from the accounts' one-key locks; one lock per
    /// store (stores in schemas of one database share the lock space).
    private static let key = "hashtext(current_schema()), \(0x5375_6253)"  // "SubS"

    /// Throws `ReconcileLeaseLost` when another process holds the lease now. nil: nothing to check.
    static func check(_ lease: ReconcileLeaseGrant?, on connection: PostgresConnection, logger: Logger) async throws {
        guard let lease else { return }
        try await connection.query(PostgresQuery(unsafeSQL: "SELECT pg_advisory_xact_lock_shared(\(key))"), logger: logger)
        // A statement of its own, so that its snapshot is taken after the lock was granted: one
        // taken before it would miss a lease taken while this waited.
        var held = false
        for try await _ in try await connection.query("""
            SELECT 1 FROM reconcile_lease WHERE id = 1 AND holder = \(lease.holder) AND epoch = \(lease.epoch)
            """, logger: logger).decode(Int32.self) {
            held = true
        }
        if !held { throw ReconcileLeaseLost() }
    }

    /// For the transaction that takes the lease: false while a pass's write runs.
    static func exclude(on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        var taken = false
        for try await value in try await connection.query(PostgresQuery(unsafeSQL: "SELECT pg_try_advisory_xact_lock(\(key))"), logger: logger)
            .decode(Bool.self) {
            taken = value
        }
        return taken
    }
}
