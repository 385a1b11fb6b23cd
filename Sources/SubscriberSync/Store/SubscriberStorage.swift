import Logging
import ServiceLifecycle

/// The storage seam: every table, migration and SQL statement lives behind it, one engine per
/// folder beside this file. The rest of the service speaks these domain operations only.
///
/// Every engine states each rule once and passes the same conformance suite
/// (`StorageConformanceTests`): last writer wins per (account, subscriber) on the version, an
/// unsubscribe wins a tie, unsubscribed rows stay as tombstones, a destroyed account voids every
/// fact at or before its destruction, and every state change is recorded in the outbox in the
/// transaction that makes it.
public protocol SubscriberStorage: EventStore, ForwardQueue, SubscriberReads {
    /// Opens the store and brings its schema up to date. Every other operation opens on first use
    /// too; calling this first makes a bad location fail before anything else starts.
    func open() async throws

    /// What must run beside the store while serving (group commit, housekeeping), in start order.
    /// Operations work without them, one transaction each.
    func services(logger: Logger) -> [any Service]

    /// Releases connections; the store reopens on next use.
    func close() async

    // MARK: Callbacks

    /// Applies one callback's change and queues its forward jobs durably: returns once their
    /// transaction has committed. Concurrent calls may share a transaction (group commit); a
    /// failing write never undoes another.
    func commit(_ write: CallbackWrite) async throws -> ApplyResult

    /// A proof that a change can commit now, for readiness checks: a real, durable commit on the
    /// callbacks' path (taking a lock alone succeeds on a full disk).
    func checkWritable() async throws

    // MARK: Accounts

    /// Every account the store knows (configured accounts are remembered on their first pass).
    func accounts() async throws -> [AccountRecord]

    /// Every account the store knows with its counts and latest pass, ordered by account.
    func accountSummaries() async throws -> [AccountSummary]

    // MARK: Events (and the emitter's, from `EventStore`)

    /// Stored events with `sequence` in `range`, oldest first, rendered byte-identically to what
    /// the emitter wrote.
    func events(in range: ClosedRange<Int64>, limit: Int) async throws -> [RenderedEvent]

    // MARK: Reconcile

    /// Takes the reconciler's lease for `holder`, when nobody holds it and, if `dueAfterMilliseconds`
    /// is given, the last run started at least that long ago. nil otherwise.
    func acquireReconcileLease(holder: String, durationMilliseconds: Int64, dueAfterMilliseconds: Int64?) async throws -> ReconcileLeaseGrant?

    /// Extends the lease; false when it was lost (expired and taken).
    func renewReconcileLease(_ lease: ReconcileLeaseGrant) async throws -> Bool

    func releaseReconcileLease(_ lease: ReconcileLeaseGrant) async throws

    /// Remembers the account, records the start of a pass and opens an empty listing for it.
    /// With a `lease`, the pass's repairs (candidates, fields, adds, removals and a complete
    /// finish) each check in their transaction that the lease is still this one, and throw
    /// `ReconcileLeaseLost` without writing when another process has taken it.
    func beginPass(account: String, startedAt: Int64, lease: ReconcileLeaseGrant?) async throws -> ListingPass

    /// Adds entries of a listing page to the pass's listing. A subscriber listed twice keeps the
    /// latest entry.
    func stage(_ entries: [ListedSubscriber], in pass: ListingPass) async throws

    /// Records who is missing from this complete listing; returns how many, and those missing from
    /// two consecutive complete listings with an unchanged record (the removable ones).
    func markRemovalCandidates(in pass: ListingPass) async throws -> RemovalCandidates

    /// Subscribed and listed with different fields: stores them, with `subscriber.updated` for a
    /// value that differs from one already known. Returns how many events were recorded.
    func applyListedFields(in pass: ListingPass, batchSize: Int) async throws -> Int

    /// Listed but locally absent or unsubscribed before the page was requested: subscribed, by the
    /// same rule as a callback's subscribe. Returns how many were added.
    func addListed(in pass: ListingPass) async throws -> Int

    /// Unsubscribes `subscribers` at the pass's start; a record that changed since stays.
    func removeMissing(_ subscribers: [String], in pass: ListingPass, batchSize: Int) async throws -> Int

    /// Records the pass's outcome (at `finishedAt`, also the events' recorded time) and its events in
    /// one transaction; `complete` passes count for the two-listing rule. `pass` is nil when the
    /// pass failed before it began. The listing is dropped unless `keepListing` (a one-shot run
    /// leaves it to process exit).
    func finishPass(_ pass: ListingPass?, at finishedAt: Int64, outcome: String, complete: Bool, events: [ChangeEvent],
                    keepListing: Bool) async throws

    // MARK: Reads

    /// The currently subscribed, ordered by account and subscriber, streamed in constant memory.
    func exportSubscribers(account: String?, _ body: (SubscriberRecord) throws -> Void) async throws

    /// Subscribed count per known account.
    func subscriberCounts() async throws -> [String: Int]
}

extension SubscriberStorage {
    /// A change without forward jobs.
    public func apply(_ change: StoreChange) async throws -> ApplyResult {
        try await commit(CallbackWrite(change: change))
    }
}
