import GRDB
import Logging
import ServiceLifecycle
import Synchronization

/// The embedded engine: one SQLite file in WAL mode with `synchronous=FULL`, one writer, group
/// commit on a dedicated thread while serving.
///
/// Nothing is opened in `init`: the database opens (and migrates) on first use, or in `open()`.
public final class SQLiteStorage: SubscriberStorage {
    public enum Access: Sendable {
        /// Create the file when missing and migrate it (serve, reconcile).
        case readWrite
        /// Read an existing, up-to-date database only (export, and other readers beside a serve).
        case existing
    }

    public let path: String
    private let clock: any WallClock
    let rules: SQLiteSubscriberRules
    private let connection: SQLiteConnection
    /// The read API's connections (GRDB's pool serves everything else).
    let readers: SQLiteReaders
    private let commits: CommitQueue<SQLiteWriteOutcome>

    public init(path: String, sdkAppID: String, access: Access = .readWrite, clock: any WallClock = SystemWallClock()) {
        self.path = path
        self.clock = clock
        rules = SQLiteSubscriberRules(outbox: SQLiteOutbox(sdkAppID: sdkAppID))
        let connection = SQLiteConnection(path: path, access: access)
        self.connection = connection
        readers = SQLiteReaders(path: path)
        commits = CommitQueue(writer: { try connection.pool() }, clock: clock)
    }

    /// The connection pool, opened on first use.
    func database() throws -> DatabasePool {
        try connection.pool()
    }

    public func open() async throws {
        _ = try database()
    }

    public func services(logger: Logger) -> [any Service] {
        [commits, CheckpointService(path: path, logger: logger)]
    }

    public func close() async {
        readers.close()
        connection.close()
    }

    // MARK: Callbacks

    public func commit(_ write: CallbackWrite) async throws -> ApplyResult {
        let rules = self.rules
        let prepared = PreparedChange(write)
        do {
            if commits.isRunning {
                let outcome = try await commits.submit { db, recordedAt in .applied(try rules.apply(prepared, recordedAt: recordedAt, in: db)) }
                guard case .applied(let result) = outcome else { preconditionFailure("a change commits as a change") }
                return result
            }
            let clock = self.clock
            return try await database().write { db in try rules.apply(prepared, recordedAt: clock.nowMilliseconds(), in: db) }
        } catch {
            throw SQLiteFailure(error)
        }
    }

    /// A real commit, in the callbacks' group commit while serving: taking the write lock alone
    /// succeeds on a full disk, where every commit fails.
    public func checkWritable() async throws {
        let probe: @Sendable (Database, Int64) throws -> Void = { db, now in
            try db.execute(sql: "UPDATE readiness_probe SET at = ? WHERE id = 1", arguments: [now])
        }
        do {
            if commits.isRunning {
                _ = try await commits.submit { db, recordedAt in
                    try probe(db, recordedAt)
                    return .probed
                }
            } else {
                let now = clock.nowMilliseconds()
                try await database().write { db in try probe(db, now) }
            }
        } catch {
            throw SQLiteFailure(error)
        }
    }

    // MARK: Forward queue

    public func acquireForwarderLease(holder: String, durationMilliseconds: Int64) async throws -> ForwarderLeaseGrant? {
        let now = clock.nowMilliseconds()
        return try await write { db in try SQLiteForwardQueue.acquire(holder: holder, now: now, duration: durationMilliseconds, in: db) }
    }

    public func releaseForwarderLease(_ lease: ForwarderLeaseGrant) async throws {
        try await write { db in try SQLiteForwardQueue.release(lease, in: db) }
    }

    public func nextForwards(target: String, limit: Int) async throws -> [ForwardJob] {
        try await read { db in try SQLiteForwardQueue.next(target: target, limit: limit, in: db) }
    }

    public func completeForwards(_ ids: [Int64], for lease: ForwarderLeaseGrant) async throws -> Bool {
        try await write { db in try SQLiteForwardQueue.complete(ids, lease: lease, in: db) }
    }

    public func postponeForward(_ id: Int64, attempts: Int, nextAttemptAt: Int64, error: String,
                                for lease: ForwarderLeaseGrant) async throws -> Bool {
        try await write { db in
            try SQLiteForwardQueue.postpone(id, attempts: attempts, nextAttemptAt: nextAttemptAt, error: error, lease: lease, in: db)
        }
    }

    public func deadLetterForwards(target: String, receivedBefore: Int64, at deadAt: Int64, error: String,
                                   for lease: ForwarderLeaseGrant) async throws -> Int? {
        try await write { db in
            try SQLiteForwardQueue.deadLetter(target: target, receivedBefore: receivedBefore, at: deadAt, error: error, lease: lease, in: db)
        }
    }

    public func retryDeadForwards(target: String?) async throws -> Int {
        try await write { db in try SQLiteForwardQueue.retryDead(target: target, in: db) }
    }

    public func dropDeadForwards(target: String?) async throws -> Int {
        try await write { db in try SQLiteForwardQueue.dropDead(target: target, in: db) }
    }

    public func forwardTargets() async throws -> [ForwardTargetSummary] {
        try await read { db in try SQLiteForwardQueue.summaries(in: db) }
    }

    /// Outside the callbacks' group commit: the forwarder's writes are few (one per batch of
    /// deliveries) and wait for the writer like any other.
    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await database().write(body)
        } catch {
            throw SQLiteFailure(error)
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await database().read(body)
        } catch {
            throw SQLiteFailure(error)
        }
    }

    // MARK: Accounts

    public func accounts() async throws -> [AccountRecord] {
        try await database().read { db in
            try Row.fetchAll(db, sql: "SELECT account, destroyed_at, created_at FROM accounts ORDER BY account").map {
                AccountRecord(account: $0[0], destroyedAt: $0[1], createdAt: $0[2])
            }
        }
    }

    public func accountSummaries() async throws -> [AccountSummary] {
        try await database().read { db in
            try Row.fetchAll(db, sql: """
                SELECT a.account, a.destroyed_at, a.created_at, a.first_seen,
                    (SELECT COUNT(*) FROM subscribers s WHERE s.account = a.account AND s.subscribed = 1),
                    (SELECT COUNT(*) FROM subscribers s WHERE s.account = a.account AND s.subscribed = 0),
                    p.outcome, p.started_at, p.finished_at,
                    (SELECT COUNT(*) FROM removal_candidates c JOIN subscribers s USING (account, subscriber)
                        WHERE c.account = a.account AND s.subscribed = 1),
                    (SELECT COUNT(*) FROM removal_candidates c JOIN subscribers s USING (account, subscriber)
                        WHERE c.account = a.account AND s.subscribed = 1 AND c.misses >= 2)
                FROM accounts a
                LEFT JOIN scans p ON p.id = (SELECT MAX(id) FROM scans WHERE account = a.account)
                ORDER BY a.account
                """).map { row in
                let startedAt: Int64? = row[7]
                return AccountSummary(
                    record: AccountRecord(account: row[0], destroyedAt: row[1], createdAt: row[2]), firstSeen: row[3],
                    subscribed: row[4], tombstones: row[5],
                    lastPass: startedAt.map { AccountSummary.LastPass(outcome: row[6], startedAt: $0, finishedAt: row[8]) },
                    removalCandidates: row[9], removable: row[10])
            }
        }
    }

    // MARK: Events

    public func acquireEmitterLease(holder: String, durationMilliseconds: Int64) async throws -> EmitterLeaseGrant? {
        let now = clock.nowMilliseconds()
        return try await database().write { db in
            try SQLiteEmitterLease.acquire(holder: holder, now: now, duration: durationMilliseconds, in: db)
        }
    }

    /// On SQLite every event is numbered when it is recorded (rowids under the single write lock),
    /// so the emitter only reads.
    public func nextEvents(for lease: EmitterLeaseGrant, limit: Int) async throws -> EventBatch {
        try await database().read { db in
            let checkpoint = try SQLiteOutbox.checkpoint(in: db)
            return EventBatch(checkpoint: checkpoint, events: try SQLiteOutbox.lines(from: checkpoint + 1, limit: limit, in: db))
        }
    }

    /// While serving, the move rides along in the callbacks' next group commit instead of holding
    /// the writer for a commit and a sync of its own while callbacks wait.
    public func advanceCheckpoint(to sequence: Int64, for lease: EmitterLeaseGrant) async throws -> Bool {
        let expires = clock.nowMilliseconds() + lease.durationMilliseconds
        let advance: @Sendable (Database) throws -> Bool = { db in
            try SQLiteEmitterLease.advance(checkpoint: sequence, lease: lease, expires: expires, in: db)
        }
        do {
            if commits.isRunning {
                let outcome = try await commits.submit { db, _ in .advanced(try advance(db)) }
                guard case .advanced(let advanced) = outcome else { preconditionFailure("a checkpoint commits as a checkpoint") }
                return advanced
            }
            return try await database().write(advance)
        } catch {
            throw SQLiteFailure(error)
        }
    }

    public func releaseEmitterLease(_ lease: EmitterLeaseGrant) async throws {
        try await database().write { db in try SQLiteEmitterLease.release(lease, in: db) }
    }

    public func emitterProgress() async throws -> EmitterProgress {
        try await database().read { db in
            EmitterProgress(checkpoint: try SQLiteOutbox.checkpoint(in: db), newest: try SQLiteOutbox.newestSequence(in: db),
                            oldestPendingRecordedAt: try SQLiteOutbox.oldestPendingRecordedTime(in: db))
        }
    }

    public func oldestRetainedSequence() async throws -> Int64? {
        try await read { db in try SQLiteOutbox.oldestSequence(in: db) }
    }

    public func deleteEmittedEvents(recordedBefore: Int64, window: Int, for lease: EmitterLeaseGrant) async throws -> Int {
        try await write { db in try SQLiteOutbox.deleteEmitted(recordedBefore: recordedBefore, window: window, lease: lease, in: db) }
    }

    public func events(in range: ClosedRange<Int64>, limit: Int) async throws -> [RenderedEvent] {
        try await database().read { db in
            try SQLiteOutbox.lines(from: range.lowerBound, through: range.upperBound, limit: limit, in: db)
        }
    }

    // MARK: Reconcile

    public func acquireReconcileLease(holder: String, durationMilliseconds: Int64, dueAfterMilliseconds: Int64?) async throws -> ReconcileLeaseGrant? {
        let now = clock.nowMilliseconds()
        let epoch = try await database().write { db in
            try Int64.fetchOne(db, sql: """
                UPDATE reconcile_lease SET epoch = epoch + 1, holder = :holder, expires = :now + :duration, last_started = :now
                WHERE id = 1 AND (holder IS NULL OR expires < :now)
                  AND (:due IS NULL OR last_started IS NULL OR last_started <= :now - :due)
                RETURNING epoch
                """, arguments: ["holder": holder, "now": now, "duration": durationMilliseconds, "due": dueAfterMilliseconds])
        }
        return epoch.map { ReconcileLeaseGrant(holder: holder, epoch: $0, durationMilliseconds: durationMilliseconds) }
    }

    public func renewReconcileLease(_ lease: ReconcileLeaseGrant) async throws -> Bool {
        let expires = clock.nowMilliseconds() + lease.durationMilliseconds
        return try await database().write { db in
            try db.execute(sql: "UPDATE reconcile_lease SET expires = ? WHERE id = 1 AND holder = ? AND epoch = ?",
                           arguments: [expires, lease.holder, lease.epoch])
            return db.changesCount == 1
        }
    }

    public func releaseReconcileLease(_ lease: ReconcileLeaseGrant) async throws {
        try await database().write { db in
            try db.execute(sql: "UPDATE reconcile_lease SET holder = NULL, expires = 0 WHERE id = 1 AND holder = ? AND epoch = ?",
                           arguments: [lease.holder, lease.epoch])
        }
    }

    public func beginPass(account: String, startedAt: Int64, lease: ReconcileLeaseGrant?) async throws -> ListingPass {
        let rules = self.rules
        return try await database().write { db in
            try SQLiteReconcileFence.check(lease, in: db)
            try rules.rememberAccount(account, seenAt: startedAt, in: db)
            let subscribed = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM subscribers WHERE account = ? AND subscribed = 1",
                                              arguments: [account]) ?? 0
            try db.execute(sql: "INSERT INTO scans (account, started_at) VALUES (?, ?)", arguments: [account, startedAt])
            let id = db.lastInsertedRowID
            try SQLiteListing.createTable(in: db)
            return ListingPass(id: id, account: account, startedAt: startedAt, subscribedAtStart: subscribed, lease: lease)
        }
    }

    public func stage(_ entries: [ListedSubscriber], in pass: ListingPass) async throws {
        try await database().write { db in try SQLiteListing.stage(entries, in: db) }
    }

    public func markRemovalCandidates(in pass: ListingPass) async throws -> RemovalCandidates {
        try await repair(pass).markCandidates(account: pass.account, scan: pass.id, scanStartedAt: pass.startedAt)
    }

    public func applyListedFields(in pass: ListingPass, batchSize: Int) async throws -> Int {
        try await repair(pass).applyFieldChanges(account: pass.account, batchSize: batchSize)
    }

    public func addListed(in pass: ListingPass) async throws -> Int {
        try await repair(pass).addListed(account: pass.account)
    }

    public func removeMissing(_ subscribers: [String], in pass: ListingPass, batchSize: Int) async throws -> Int {
        try await repair(pass).remove(subscribers, account: pass.account, scanStartedAt: pass.startedAt, batchSize: batchSize)
    }

    public func finishPass(_ pass: ListingPass?, at finishedAt: Int64, outcome: String, complete: Bool, events: [ChangeEvent],
                           keepListing: Bool) async throws {
        let rules = self.rules
        try await database().write { db in
            // A failed pass records its failure whoever holds the lease; a complete one counts for
            // the two-listing rule only while it still runs under its lease.
            if complete, let pass { try SQLiteReconcileFence.check(pass.lease, in: db) }
            if !keepListing || !complete {
                try SQLiteListing.dropTable(in: db)
            }
            if let pass {
                try db.execute(sql: "UPDATE scans SET finished_at = ?, outcome = ? WHERE id = ?", arguments: [finishedAt, outcome, pass.id])
                if complete {
                    try db.execute(sql: "UPDATE accounts SET last_complete_scan = ? WHERE account = ?", arguments: [pass.id, pass.account])
                }
            }
            for event in events {
                try rules.outbox.append(event, recordedAt: finishedAt, in: db)
            }
        }
    }

    private func repair(_ pass: ListingPass) throws -> SQLiteListingRepair {
        SQLiteListingRepair(rules: rules, database: try database(), clock: clock, lease: pass.lease)
    }

    // MARK: Reads

    /// Streams from one read transaction (a snapshot), so a large store is never held in memory
    /// and a running `serve` is not disturbed.
    public func exportSubscribers(account: String?, _ body: (SubscriberRecord) throws -> Void) async throws {
        try exportSubscribers(from: database(), account: account, body)
    }

    /// Synchronous: the caller's closure is not `Sendable`, and a cursor must be read inside its
    /// transaction.
    private func exportSubscribers(from database: DatabasePool, account: String?, _ body: (SubscriberRecord) throws -> Void) throws {
        try database.read { db in
            var sql = """
                SELECT account, subscriber, subscribe_time, msg_flag, custom_string, last_send_msg_time, since, origin
                FROM subscribers WHERE subscribed = 1
                """
            var arguments: StatementArguments = []
            if let account {
                sql += " AND account = ?"
                arguments = [account]
            }
            sql += " ORDER BY account, subscriber"
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() {
                try body(SubscriberRecord(
                    account: row[0], subscriber: row[1],
                    fields: SubscriberFields(subscribeTime: row[2], msgFlag: row[3], customString: row[4], lastSendMsgTime: row[5]),
                    since: row[6], origin: row[7]))
            }
        }
    }

    public func subscriberCounts() async throws -> [String: Int] {
        try await database().read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT a.account, COUNT(s.subscriber) FROM accounts a
                LEFT JOIN subscribers s ON s.account = a.account AND s.subscribed = 1
                GROUP BY a.account
                """) {
                counts[row[0]] = row[1]
            }
            return counts
        }
    }
}

/// The database, opened on first use and shared by the storage and its commit queue.
final class SQLiteConnection: Sendable {
    let path: String
    let access: SQLiteStorage.Access
    private let opened = Mutex<DatabasePool?>(nil)

    init(path: String, access: SQLiteStorage.Access) {
        self.path = path
        self.access = access
    }

    func pool() throws -> DatabasePool {
        try opened.withLock { opened in
            if let opened { return opened }
            let pool = try SQLiteDatabase.open(path: path, create: access == .readWrite, migrate: access == .readWrite)
            opened = pool
            return pool
        }
    }

    func close() {
        let closing = opened.withLock { opened in
            defer { opened = nil }
            return opened
        }
        try? closing?.close()
    }
}

/// What a write of the commit queue returns: a change's result, or whether a checkpoint moved.
enum SQLiteWriteOutcome: Sendable {
    case applied(ApplyResult)
    case advanced(Bool)
    case probed
}
