import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The shared engine: any number of replicas on one PostgreSQL database. Callbacks commit in
/// group transactions with `synchronous_commit` on; the emitter (one lease holder across
/// replicas) numbers events in commit order (`PostgresOutbox`).
///
/// Nothing is opened in `init`: the pool connects, and the schema migrates, on first use or in
/// `open()`.
public final class PostgresStorage: SubscriberStorage {
    public let location: PostgresLocation
    private let clock: any WallClock
    private let logger: Logger
    let rules: PostgresSubscriberRules
    let pool: PostgresConnectionPool
    private let commits: PostgresGroupCommit
    private let migrated = Mutex(false)
    /// Passes of this process whose listing has been deduplicated (see `PostgresListing`).
    private let deduplicated = Mutex<Set<Int64>>([])
    private let lookups = PostgresLookupBatches()

    /// How long a callback's commit may wait before it fails (and the callback gets its 503).
    let callbackPatience: Duration

    /// `callbackPatience`: the default answers within Tencent's 2 s; embedders without that limit
    /// (tests on a loaded machine) may wait longer.
    public init(location: PostgresLocation, sdkAppID: String, clock: any WallClock = SystemWallClock(), logger: Logger,
                maximumConnections: Int = 16, callbackPatience: Duration = Patience.callback) {
        self.callbackPatience = callbackPatience
        self.location = location
        self.clock = clock
        self.logger = logger
        rules = PostgresSubscriberRules(outbox: PostgresOutbox(sdkAppID: sdkAppID), logger: logger)
        pool = PostgresConnectionPool(location: location, maximumConnections: maximumConnections, logger: logger)
        commits = PostgresGroupCommit(pool: pool, rules: rules, clock: clock, logger: logger, batchPatience: callbackPatience)
    }

    /// The running client, with the schema up to date.
    private func client() async throws -> PostgresClient {
        let client = try pool.client()
        guard !migrated.withLock({ $0 }) else { return client }
        do {
            try await PostgresSchema.migrate(client, logger: logger)
        } catch {
            throw PostgresFailure(error)
        }
        migrated.withLock { $0 = true }
        return client
    }

    /// How long an operation may wait for the database. A callback's commit must fail in time for
    /// its 503 to reach Tencent within 2 s; the rest just must not wait forever.
    public enum Patience {
        public static let callback: Duration = .milliseconds(1_500)
        static let probe: Duration = .seconds(2)
        static let emitter: Duration = .seconds(5)
        static let repair: Duration = .seconds(300)
    }

    /// Runs `body` within `limit`; errors are made readable, and one that says the server is
    /// unreachable starts the pool over (see `PostgresConnectionPool.recycle`).
    private func guarded<Result: Sendable>(_ what: String, within limit: Duration,
                                           _ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
        do {
            return try await Deadline.run(what, within: limit, body)
        } catch {
            if PostgresFailure.isUnreachable(error) { pool.recycle() }
            let cause = (error as? PostgresTransactionError)?.closureError ?? error
            if cause is ReconcileLeaseLost { throw cause }
            throw PostgresFailure(error)
        }
    }

    /// One transaction.
    @discardableResult
    private func transaction<Result: Sendable>(_ what: String = "a database transaction", within limit: Duration = Patience.emitter,
                                               _ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        try await guarded(what, within: limit) { [self] in
            try await client().withTransaction(logger: logger) { try await body($0) }
        }
    }

    private func read<Result: Sendable>(_ what: String = "a database read", within limit: Duration = Patience.emitter,
                                        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        try await guarded(what, within: limit) { [self] in
            try await client().withConnection { try await body($0) }
        }
    }

    public func open() async throws {
        try await pool.checkSettings()
        _ = try await read("opening the database", within: Patience.repair) { [logger] in try await $0.query("SELECT 1", logger: logger) }
    }

    public func services(logger: Logger) -> [any Service] {
        [PostgresPoolService(pool: pool)]
    }

    public func close() async {
        await pool.close()
        migrated.withLock { $0 = false }
    }

    // MARK: Callbacks

    public func commit(_ write: CallbackWrite) async throws -> ApplyResult {
        let prepared = PreparedChange(write)
        return try await guarded("committing a callback", within: callbackPatience) { [self] in
            _ = try await client()
            return try await commits.submit(prepared)
        }
    }

    /// A transaction that takes a transaction id and commits: proof that this replica reaches a
    /// writable primary and that commits go through (a standby refuses the id; a server that
    /// cannot write its log fails the commit).
    public func checkWritable() async throws {
        try await transaction("the writability probe", within: Patience.probe) { [logger] connection in
            try await connection.query("SELECT pg_current_xact_id()", logger: logger)
        }
    }

    // MARK: Forward queue

    public func acquireForwarderLease(holder: String, durationMilliseconds: Int64) async throws -> ForwarderLeaseGrant? {
        let now = clock.nowMilliseconds()
        return try await transaction("taking the forwarder lease") { [logger] connection in
            try await PostgresForwardQueue.acquire(holder: holder, now: now, duration: durationMilliseconds, on: connection, logger: logger)
        }
    }

    public func releaseForwarderLease(_ lease: ForwarderLeaseGrant) async throws {
        try await transaction("releasing the forwarder lease") { [logger] connection in
            try await PostgresForwardQueue.release(lease, on: connection, logger: logger)
        }
    }

    public func nextForwards(target: String, limit: Int) async throws -> [ForwardJob] {
        try await read("reading forward jobs") { [logger, location] connection in
            try await PostgresForwardQueue.next(target: target, limit: limit, ownSessions: location.ownSessions, on: connection, logger: logger)
        }
    }

    public func completeForwards(_ ids: [Int64], for lease: ForwarderLeaseGrant) async throws -> Bool {
        try await transaction("removing delivered forward jobs") { [logger] connection in
            try await PostgresForwardQueue.complete(ids, lease: lease, on: connection, logger: logger)
        }
    }

    public func postponeForward(_ id: Int64, attempts: Int, nextAttemptAt: Int64, error: String,
                                for lease: ForwarderLeaseGrant) async throws -> Bool {
        try await transaction("postponing a forward job") { [logger] connection in
            try await PostgresForwardQueue.postpone(id, attempts: attempts, nextAttemptAt: nextAttemptAt, error: error, lease: lease,
                                                    on: connection, logger: logger)
        }
    }

    public func deadLetterForwards(target: String, receivedBefore: Int64, at deadAt: Int64, error: String,
                                   for lease: ForwarderLeaseGrant) async throws -> Int? {
        try await transaction("dead-lettering forward jobs") { [logger] connection in
            try await PostgresForwardQueue.deadLetter(target: target, receivedBefore: receivedBefore, at: deadAt, error: error, lease: lease,
                                                      on: connection, logger: logger)
        }
    }

    public func retryDeadForwards(target: String?) async throws -> Int {
        try await transaction("queueing dead forward jobs again", within: Patience.repair) { [logger] connection in
            try await PostgresForwardQueue.retryDead(target: target, on: connection, logger: logger)
        }
    }

    public func dropDeadForwards(target: String?) async throws -> Int {
        try await transaction("deleting dead forward jobs", within: Patience.repair) { [logger] connection in
            try await PostgresForwardQueue.dropDead(target: target, on: connection, logger: logger)
        }
    }

    public func forwardTargets() async throws -> [ForwardTargetSummary] {
        try await read("counting forward jobs") { [logger] connection in
            try await PostgresForwardQueue.summaries(on: connection, logger: logger)
        }
    }

    // MARK: Accounts

    public func accounts() async throws -> [AccountRecord] {
        try await read { [logger] connection in
            var accounts: [AccountRecord] = []
            for try await (account, destroyedAt, createdAt) in try await connection.query("""
                SELECT account, destroyed_at, created_at FROM accounts ORDER BY account
                """, logger: logger).decode((String, Int64?, Int64?).self) {
                accounts.append(AccountRecord(account: account, destroyedAt: destroyedAt, createdAt: createdAt))
            }
            return accounts
        }
    }

    public func accountSummaries() async throws -> [AccountSummary] {
        try await read { [logger] connection in
            var summaries: [AccountSummary] = []
            let rows = try await connection.query("""
                SELECT a.account, a.destroyed_at, a.created_at, a.first_seen,
                    (SELECT COUNT(*) FROM subscribers s WHERE s.account = a.account AND s.subscribed),
                    (SELECT COUNT(*) FROM subscribers s WHERE s.account = a.account AND NOT s.subscribed),
                    p.outcome, p.started_at, p.finished_at,
                    (SELECT COUNT(*) FROM removal_candidates c JOIN subscribers s USING (account, subscriber)
                        WHERE c.account = a.account AND s.subscribed),
                    (SELECT COUNT(*) FROM removal_candidates c JOIN subscribers s USING (account, subscriber)
                        WHERE c.account = a.account AND s.subscribed AND c.misses >= 2)
                FROM accounts a
                LEFT JOIN scans p ON p.id = (SELECT MAX(id) FROM scans WHERE account = a.account)
                ORDER BY a.account
                """, logger: logger)
            for try await row in rows {
                let (account, destroyedAt, createdAt, firstSeen, subscribed, tombstones, outcome, startedAt, finishedAt, candidates, removable)
                    = try row.decode((String, Int64?, Int64?, Int64, Int64, Int64, String?, Int64?, Int64?, Int64, Int64).self)
                summaries.append(AccountSummary(
                    record: AccountRecord(account: account, destroyedAt: destroyedAt, createdAt: createdAt), firstSeen: firstSeen,
                    subscribed: Int(subscribed), tombstones: Int(tombstones),
                    lastPass: startedAt.map { AccountSummary.LastPass(outcome: outcome, startedAt: $0, finishedAt: finishedAt) },
                    removalCandidates: Int(candidates), removable: Int(removable)))
            }
            return summaries
        }
    }

    // MARK: Events

    public func acquireEmitterLease(holder: String, durationMilliseconds: Int64) async throws -> EmitterLeaseGrant? {
        let now = clock.nowMilliseconds()
        return try await transaction { [logger] connection in
            try await PostgresEmitterLease.acquire(holder: holder, now: now, duration: durationMilliseconds, on: connection, logger: logger)
        }
    }

    /// Numbers what has committed since (for the lease holder only), then reads. When nothing can
    /// be numbered yet because an older transaction is still running (its rows would have to come
    /// first), waits briefly for it rather than report nothing new.
    public func nextEvents(for lease: EmitterLeaseGrant, limit: Int) async throws -> EventBatch {
        let deadline = ContinuousClock.now + .seconds(2)
        while true {
            let (batch, waiting) = try await transaction { [logger, location] connection -> (EventBatch, Bool) in
                guard let numbered = try await PostgresOutbox.number(upTo: limit, for: lease, ownSessions: location.ownSessions, on: connection,
                                                                     logger: logger) else {
                    return (EventBatch(checkpoint: -1, events: []), false)
                }
                let events = try await PostgresOutbox.lines(from: numbered.checkpoint + 1, limit: limit, on: connection, logger: logger)
                return (EventBatch(checkpoint: numbered.checkpoint, events: events), numbered.waiting)
            }
            if !batch.events.isEmpty || !waiting || ContinuousClock.now >= deadline { return batch }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    public func advanceCheckpoint(to sequence: Int64, for lease: EmitterLeaseGrant) async throws -> Bool {
        // The checkpoint never passes the numbered: a checkpoint beyond them would skip the events
        // that get those numbers later. The emitter only moves it over events it read, so this
        // numbers nothing then.
        try await numberCommitted(through: sequence)
        let expires = clock.nowMilliseconds() + lease.durationMilliseconds
        return try await transaction { [logger] connection in
            try await PostgresEmitterLease.advance(checkpoint: sequence, lease: lease, expires: expires, on: connection, logger: logger)
        }
    }

    /// Numbers every event committed before the call, through `sequence`, waiting (briefly) for
    /// older transactions still running.
    private func numberCommitted(through sequence: Int64, limit: Int = 100_000) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while try await !transaction("numbering events", { [logger, location] connection in
            try await PostgresOutbox.number(through: sequence, limit: limit, ownSessions: location.ownSessions, on: connection, logger: logger)
        }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    public func releaseEmitterLease(_ lease: EmitterLeaseGrant) async throws {
        try await transaction { [logger] connection in
            try await PostgresEmitterLease.release(lease, on: connection, logger: logger)
        }
    }

    public func emitterProgress() async throws -> EmitterProgress {
        try await read("reading the emitter's progress", within: Patience.probe) { [logger] connection in
            try await PostgresOutbox.progress(on: connection, logger: logger)
        }
    }

    public func oldestRetainedSequence() async throws -> Int64? {
        try await read("reading the oldest event") { [logger] connection in
            try await PostgresOutbox.oldestSequence(on: connection, logger: logger)
        }
    }

    public func deleteEmittedEvents(recordedBefore: Int64, window: Int, for lease: EmitterLeaseGrant) async throws -> Int {
        try await transaction("deleting old events") { [logger] connection in
            try await PostgresOutbox.deleteEmitted(recordedBefore: recordedBefore, window: window, lease: lease, on: connection, logger: logger)
        }
    }

    /// Waits (briefly) for older transactions still running, so that every event committed
    /// before the call is numbered and returned.
    public func events(in range: ClosedRange<Int64>, limit: Int) async throws -> [RenderedEvent] {
        try await numberCommitted(through: range.upperBound, limit: limit)
        return try await read { [logger] connection in
            try await PostgresOutbox.lines(from: range.lowerBound, through: range.upperBound, limit: limit, on: connection, logger: logger)
        }
    }

    // MARK: Reconcile

    public func acquireReconcileLease(holder: String, durationMilliseconds: Int64, dueAfterMilliseconds: Int64?) async throws -> ReconcileLeaseGrant? {
        let now = clock.nowMilliseconds()
        return try await transaction { [logger] connection in
            guard try await PostgresReconcileFence.exclude(on: connection, logger: logger) else { return nil }
            var epoch: Int64?
            for try await value in try await connection.query("""
                UPDATE reconcile_lease SET epoch = epoch + 1, holder = \(holder), expires = \(now + durationMilliseconds), last_started = \(now)
                WHERE id = 1 AND (holder IS NULL OR expires < \(now))
                  AND (\(dueAfterMilliseconds)::BIGINT IS NULL OR last_started IS NULL OR last_started <= \(now) - \(dueAfterMilliseconds)::BIGINT)
                RETURNING epoch
                """, logger: logger).decode(Int64.self) {
                epoch = value
            }
            return epoch.map { ReconcileLeaseGrant(holder: holder, epoch: $0, durationMilliseconds: durationMilliseconds) }
        }
    }

    public func renewReconcileLease(_ lease: ReconcileLeaseGrant) async throws -> Bool {
        let expires = clock.nowMilliseconds() + lease.durationMilliseconds
        return try await transaction { [logger] connection in
            try await connection.query("""
                UPDATE reconcile_lease SET expires = \(expires) WHERE id = 1 AND holder = \(lease.holder) AND epoch = \(lease.epoch) RETURNING 1
                """, logger: logger).collect().count == 1
        }
    }

    public func releaseReconcileLease(_ lease: ReconcileLeaseGrant) async throws {
        try await transaction { [logger] connection in
            try await connection.query("""
                UPDATE reconcile_lease SET holder = NULL, expires = 0 WHERE id = 1 AND holder = \(lease.holder) AND epoch = \(lease.epoch)
                """, logger: logger)
        }
    }

    public func beginPass(account: String, startedAt: Int64, lease: ReconcileLeaseGrant?) async throws -> ListingPass {
        let rules = self.rules
        return try await transaction("beginning a pass", within: Patience.repair) { [logger] connection in
            // Before the cleanup below: a process that lost the lease must not end the new holder's pass.
            try await PostgresReconcileFence.check(lease, on: connection, logger: logger)
            try await rules.lockAndRemember(account, seenAt: startedAt, exclusive: false, on: connection)
            var subscribed = 0
            for try await count in try await connection.query("""
                SELECT COUNT(*) FROM subscribers WHERE account = \(account) AND subscribed
                """, logger: logger).decode(Int64.self) {
                subscribed = Int(count)
            }
            // A pass whose process died left its listing behind (it outlives processes, unlike
            // SQLite's TEMP table). Passes never overlap (the reconciler lease), so an unfinished
            // pass of this account is such a one: it failed, and its listing goes. So do rows of
            // any pass already finished: pages a process staged after it lost the lease (staging
            // is not fenced) and then died before its own finish could drop them. Either way the
            // table is empty here but for other accounts' unfinished passes.
            try await connection.query("""
                WITH abandoned AS (
                    UPDATE scans SET finished_at = \(startedAt), outcome = 'failed'
                    WHERE account = \(account) AND finished_at IS NULL RETURNING id
                )
                DELETE FROM listing
                WHERE pass IN (SELECT id FROM abandoned) OR pass IN (SELECT id FROM scans WHERE finished_at IS NOT NULL)
                """, logger: logger)
            var id: Int64 = 0
            for try await value in try await connection.query("""
                INSERT INTO scans (account, started_at) VALUES (\(account), \(startedAt)) RETURNING id
                """, logger: logger).decode(Int64.self) {
                id = value
            }
            return ListingPass(id: id, account: account, startedAt: startedAt, subscribedAtStart: subscribed, lease: lease)
        }
    }

    public func stage(_ entries: [ListedSubscriber], in pass: ListingPass) async throws {
        try await read("staging a listing page", within: Patience.repair) { [logger] connection in
            try await PostgresListing.stage(entries, pass: pass.id, on: connection, logger: logger)
        }
    }

    private func deduplicate(_ pass: ListingPass) async throws {
        guard !deduplicated.withLock({ $0.contains(pass.id) }) else { return }
        try await read("deduplicating a listing", within: Patience.repair) { [logger] connection in
            try await PostgresListing.deduplicate(pass: pass.id, on: connection, logger: logger)
        }
        deduplicated.withLock { _ = $0.insert(pass.id) }
    }

    private func repair() -> PostgresListingRepair {
        PostgresListingRepair(rules: rules, pool: pool, clock: clock, logger: logger)
    }

    public func markRemovalCandidates(in pass: ListingPass) async throws -> RemovalCandidates {
        try await deduplicate(pass)
        return try await guarded("marking removal candidates", within: Patience.repair) { [self] in try await repair().markCandidates(pass: pass) }
    }

    public func applyListedFields(in pass: ListingPass, batchSize: Int) async throws -> Int {
        try await deduplicate(pass)
        return try await guarded("applying listed fields", within: Patience.repair) { [self] in
            try await repair().applyFieldChanges(pass: pass, batchSize: batchSize)
        }
    }

    public func addListed(in pass: ListingPass) async throws -> Int {
        try await deduplicate(pass)
        return try await guarded("adding listed subscribers", within: Patience.repair) { [self] in try await repair().addListed(pass: pass) }
    }

    public func removeMissing(_ subscribers: [String], in pass: ListingPass, batchSize: Int) async throws -> Int {
        return try await guarded("removing missing subscribers", within: Patience.repair) { [self] in
            try await repair().remove(subscribers, pass: pass, batchSize: batchSize)
        }
    }

    /// The listing goes in every case: unlike SQLite's TEMP table it would outlive the process.
    public func finishPass(_ pass: ListingPass?, at finishedAt: Int64, outcome: String, complete: Bool, events: [ChangeEvent],
                           keepListing: Bool) async throws {
        let rules = self.rules
        try await transaction("finishing a pass", within: Patience.repair) { [logger] connection in
            // A failed pass records its failure whoever holds the lease; a complete one counts for
            // the two-listing rule only while it still runs under its lease.
            if complete, let pass { try await PostgresReconcileFence.check(pass.lease, on: connection, logger: logger) }
            if let pass {
                try await PostgresListing.drop(pass: pass.id, on: connection, logger: logger)
                try await connection.query("UPDATE scans SET finished_at = \(finishedAt), outcome = \(outcome) WHERE id = \(pass.id)", logger: logger)
                if complete {
                    try await connection.query("UPDATE accounts SET last_complete_scan = \(pass.id) WHERE account = \(pass.account)", logger: logger)
                }
            }
            for event in events {
                try await rules.outbox.append(event, recordedAt: finishedAt, on: connection, logger: logger)
            }
        }
        if let pass { deduplicated.withLock { _ = $0.remove(pass.id) } }
    }

    // MARK: Reads

    /// Streams rows as the server sends them, in one statement (one snapshot), so a large store
    /// is never held in memory.
    public func exportSubscribers(account: String?, _ body: (SubscriberRecord) throws -> Void) async throws {
        // The rows arrive as the loop reads them; only getting the statement going has a deadline
        // (an unreachable server would otherwise keep `export` waiting for ever).
        let rows = try await guarded("starting the export", within: Patience.repair) { [self] in
            try await client().query("""
                SELECT account, subscriber, subscribe_time, msg_flag, custom_string, last_send_msg_time, since, origin
                FROM subscribers WHERE subscribed AND (\(account)::TEXT IS NULL OR account = \(account))
                ORDER BY account, subscriber
                """, logger: logger)
        }
        do {
            for try await (account, subscriber, subscribeTime, msgFlag, customString, lastSend, since, origin)
                in rows.decode((String, String, Int64?, String?, String?, Int64?, Int64?, String).self) {
                try body(SubscriberRecord(
                    account: account, subscriber: subscriber,
                    fields: SubscriberFields(subscribeTime: subscribeTime, msgFlag: msgFlag, customString: customString, lastSendMsgTime: lastSend),
                    since: since, origin: origin))
            }
        } catch let error as PSQLError {
            throw PostgresFailure(error)
        }
    }

    public func subscriberPage(account: String, after: String?, limit: Int, row: (SubscriberColumns) -> Void) async throws -> MirrorPageEnd? {
        let page = try await read("reading a page of subscribers") { [logger] connection in
            try await PostgresSubscriberReads.page(account: account, after: after, limit: limit, on: connection, logger: logger)
        }
        guard let page else { return nil }
        var last: String?
        do {
            for (index, stored) in page.rows.enumerated() {
                try PostgresSubscriberReads.columns(stored) { columns in
                    row(columns)
                    if page.hasMore, index == page.rows.count - 1 { last = String(decoding: columns.subscriber, as: UTF8.self) }
                }
            }
        } catch {
            throw PostgresFailure("PostgreSQL: a page of subscribers has a column of an unexpected type: \(error)")
        }
        return MirrorPageEnd(sequence: page.sequence, last: last, hasMore: page.hasMore)
    }

    public func subscriberCount(account: String) async throws -> Int {
        try await read("counting subscribers") { [logger] connection in
            try await PostgresSubscriberReads.count(account: account, on: connection, logger: logger)
        }
    }

    public func subscription(account: String, subscriber: String) async throws -> SubscriptionLookup {
        try await lookups.lookup(.init(account: account, subscriber: subscriber)) { [self] pairs in
            try await read("reading subscriptions") { [logger] connection in
                try await PostgresSubscriberReads.lookups(pairs, on: connection, logger: logger)
            }
        }
    }

    public func subscriptions(of subscriber: String) async throws -> SubscriptionList {
        try await read("reading a subscriber's subscriptions") { [logger] connection in
            try await PostgresSubscriberReads.subscriptions(of: subscriber, on: connection, logger: logger)
        }
    }

    public func subscriberCounts() async throws -> [String: Int] {
        try await read { [logger] connection in
            var counts: [String: Int] = [:]
            for try await (account, count) in try await connection.query("""
                SELECT a.account, COUNT(s.subscriber) FROM accounts a
                LEFT JOIN subscribers s ON s.account = a.account AND s.subscribed
                GROUP BY a.account
                """, logger: logger).decode((String, Int64).self) {
                counts[account] = Int(count)
            }
            return counts
        }
    }
}

/// Keeps the connection pool open until everything else in the service group has stopped (it is
/// first in the group, so it stops last), then closes it.
struct PostgresPoolService: Service {
    let pool: PostgresConnectionPool

    func run() async throws {
        try? await gracefulShutdown()
        await pool.close()
    }
}
