import GRDB
import Logging
import Metrics

/// One reconcile pass per account: scan the listing into a table, and only when it is complete,
/// repair the drift. `serve`'s periodic loop and the `reconcile` command both call `run`.
public struct Reconciler: Sendable {
    public struct Options: Sendable {
        public var removalGuard: RemovalGuard
        public var batchSize: Int
        /// Drop the listing table after each pass. A one-shot `reconcile` skips it: the process
        /// exit discards the TEMP table for free, while dropping a million rows takes half a second.
        public var dropListingAfterPass: Bool
        public init(removalGuard: RemovalGuard = RemovalGuard(), batchSize: Int = 2000, dropListingAfterPass: Bool = true) {
            self.removalGuard = removalGuard
            self.batchSize = batchSize
            self.dropListingAfterPass = dropListingAfterPass
        }
    }

    let client: TencentClient
    let database: any DatabaseWriter
    let store: SubscriberStore
    let clock: any WallClock
    let logger: Logger
    let options: Options

    public init(client: TencentClient, database: any DatabaseWriter, store: SubscriberStore, clock: any WallClock = SystemWallClock(),
                logger: Logger, options: Options = Options()) {
        self.client = client
        self.database = database
        self.store = store
        self.clock = clock
        self.logger = logger
        self.options = options
    }

    /// The accounts a pass covers: the configured ones and every one first seen in a callback,
    /// minus destroyed accounts (a configured one is reported).
    public func accounts(configured: [String]) async throws -> [String] {
        let (known, destroyed) = try await database.read { db in
            (try String.fetchAll(db, sql: "SELECT account FROM accounts WHERE destroyed_at IS NULL ORDER BY account"),
             Set(try SubscriberStore.destroyedAccounts(in: db)))
        }
        var result: [String] = []
        var seen = Set<String>()
        for account in configured + known where seen.insert(account).inserted {
            if destroyed.contains(account) {
                logger.warning("official account was destroyed; not reconciling it", metadata: ["account": "\(account)"])
                continue
            }
            result.append(account)
        }
        return result
    }

    /// Runs one pass over each account, one after the other.
    public func run(accounts: [String], isInterrupted: @escaping @Sendable () -> Bool) async -> [ReconcileReport] {
        var reports: [ReconcileReport] = []
        for account in accounts {
            reports.append(await pass(account: account, isInterrupted: isInterrupted))
        }
        return reports
    }

    public func pass(account: String, isInterrupted: @escaping @Sendable () -> Bool) async -> ReconcileReport {
        let started = ContinuousClock.now
        let startedAt = clock.nowMilliseconds()
        var report = ReconcileReport(account: account, startedAt: startedAt)
        var scan: Int64?
        do {
            let (scanID, subscribedAtStart) = try await database.write { [store] db in
                try store.rememberAccount(account, seenAt: startedAt, in: db)
                let subscribed = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM subscribers WHERE account = ? AND subscribed = 1",
                                                  arguments: [account]) ?? 0
                try db.execute(sql: "INSERT INTO scans (account, started_at) VALUES (?, ?)", arguments: [account, startedAt])
                return (db.lastInsertedRowID, subscribed)
            }
            scan = scanID
            report.subscribedAtStart = subscribedAtStart
            let listing = ListingScan(client: client, database: database, clock: clock, isInterrupted: isInterrupted)
            try await listing.run(account: account, report: &report)
            report.scanMilliseconds = Int64((ContinuousClock.now - started).milliseconds)

            // Candidates first: they are the subscribers missing from the listing, which the adds
            // below do not touch, and looking for them before a first sync's million adds is cheap.
            let repair = DriftRepair(store: store, database: database, clock: clock, batchSize: options.batchSize)
            let (candidates, removable) = try await repair.markCandidates(account: account, scan: scanID, scanStartedAt: startedAt)
            report.removalCandidates = candidates
            try await repair.applyFieldChanges(account: account, report: &report)
            report.added = try await repair.addListed(account: account)
            let storeHolds = report.subscribedAtStart > 0 || candidates > 0
            let guardCount = report.listed == 0 ? candidates : removable.count
            if let reason = options.removalGuard.holdReason(removals: guardCount, subscribedAtStart: report.subscribedAtStart,
                                                            listed: report.listed, storeHoldsSubscribers: storeHolds) {
                report.outcome = .held
                report.reason = reason
                report.held = guardCount
            } else {
                report.removed = try await repair.remove(removable, account: account, scanStartedAt: startedAt)
                report.outcome = .completed
            }
            report.durationMilliseconds = Int64((ContinuousClock.now - started).milliseconds)
            try await finish(report, scan: scanID, complete: true)
        } catch {
            report.outcome = .failed
            report.reason = (error as? ListingScan.Failure)?.reason ?? "\(error)"
            report.durationMilliseconds = Int64((ContinuousClock.now - started).milliseconds)
            do {
                try await finish(report, scan: scan, complete: false)
            } catch {
                logger.error("could not record the failed pass", metadata: ["account": "\(account)", "error": "\(error)"])
            }
        }
        log(report)
        return report
    }

    /// Records the outcome and its events in one transaction and drops the listing.
    private func finish(_ report: ReconcileReport, scan: Int64?, complete: Bool) async throws {
        let finishedAt = clock.nowMilliseconds()
        try await database.write { [store] db in
            if self.options.dropListingAfterPass || !complete {
                try ListingScan.dropTable(in: db)
            }
            if let scan {
                try db.execute(sql: "UPDATE scans SET finished_at = ?, outcome = ? WHERE id = ?", arguments: [finishedAt, report.outcome.rawValue, scan])
                if complete {
                    try db.execute(sql: "UPDATE accounts SET last_complete_scan = ? WHERE account = ?", arguments: [scan, report.account])
                }
            }
            switch report.outcome {
            case .failed:
                try store.outbox.append(report.event(.reconcileFailed, at: finishedAt), recordedAt: finishedAt, in: db)
            case .held:
                try store.outbox.append(report.event(.reconcileHeld, at: finishedAt), recordedAt: finishedAt, in: db)
                try store.outbox.append(report.event(.reconcileCompleted, at: finishedAt), recordedAt: finishedAt, in: db)
            case .completed:
                try store.outbox.append(report.event(.reconcileCompleted, at: finishedAt), recordedAt: finishedAt, in: db)
            }
        }
    }

    private func log(_ report: ReconcileReport) {
        let metadata: Logger.Metadata = [
            "account": "\(report.account)", "outcome": "\(report.outcome.rawValue)", "pages": "\(report.pages)",
            "listed": "\(report.listed)", "subscriber_num": "\(report.subscriberNum.map(String.init) ?? "unknown")",
            "added": "\(report.added)", "removed": "\(report.removed)", "updated": "\(report.updated)", "held": "\(report.held)",
            "duration_ms": "\(report.durationMilliseconds)", "scan_ms": "\(report.scanMilliseconds)", "reason": "\(report.reason ?? "")",
        ]
        switch report.outcome {
        case .completed: logger.info("reconcile pass completed", metadata: metadata)
        case .held: logger.warning("reconcile pass held its removals", metadata: metadata)
        case .failed: logger.error("reconcile pass failed", metadata: metadata)
        }
        let dimensions = [("outcome", report.outcome.rawValue)]
        Counter(label: "subscriber_sync_reconcile_passes_total", dimensions: dimensions).increment()
        Timer(label: "subscriber_sync_reconcile_duration_seconds", dimensions: dimensions)
            .recordMilliseconds(report.durationMilliseconds)
        for (kind, value) in [("added", report.added), ("removed", report.removed), ("updated", report.updated), ("held", report.held)] {
            Counter(label: "subscriber_sync_reconcile_drift_total", dimensions: [("kind", kind)]).increment(by: value)
        }
        if report.outcome != .failed {
            Gauge(label: "subscriber_sync_reconcile_last_completed_timestamp_seconds", dimensions: [("account", report.account)])
                .record(Double(clock.nowMilliseconds()) / 1000)
        }
    }
}
