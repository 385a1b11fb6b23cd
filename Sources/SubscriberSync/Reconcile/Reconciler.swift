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
    let storage: any SubscriberStorage
    let clock: any WallClock
    let logger: Logger
    let options: Options

    public init(client: TencentClient, storage: any SubscriberStorage, clock: any WallClock = SystemWallClock(),
                logger: Logger, options: Options = Options()) {
        self.client = client
        self.storage = storage
        self.clock = clock
        self.logger = logger
        self.options = options
    }

    /// The accounts a pass covers: the configured ones and every one first seen in a callback,
    /// minus destroyed accounts (a configured one is reported) that were not created again since.
    public func accounts(configured: [String]) async throws -> [String] {
        let records = try await storage.accounts()
        let known = records.filter(\.isLive).map(\.account)
        let destroyed = Set(records.filter { !$0.isLive }.map(\.account))
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

    /// Runs one pass over each account, one after the other, each under `lease` (nil: none to
    /// check; see `SubscriberStorage.beginPass`). Once another process has taken the lease, the
    /// accounts left are its to reconcile: the run stops.
    public func run(accounts: [String], lease: ReconcileLeaseGrant?, isInterrupted: @escaping @Sendable () -> Bool) async -> [ReconcileReport] {
        var reports: [ReconcileReport] = []
        for account in accounts {
            let (report, leaseLost) = await runPass(account: account, lease: lease, isInterrupted: isInterrupted)
            reports.append(report)
            if leaseLost { break }
        }
        return reports
    }

    public func pass(account: String, lease: ReconcileLeaseGrant?, isInterrupted: @escaping @Sendable () -> Bool) async -> ReconcileReport {
        await runPass(account: account, lease: lease, isInterrupted: isInterrupted).report
    }

    private func runPass(account: String, lease: ReconcileLeaseGrant?,
                         isInterrupted: @escaping @Sendable () -> Bool) async -> (report: ReconcileReport, leaseLost: Bool) {
        let started = ContinuousClock.now
        let startedAt = clock.nowMilliseconds()
        var report = ReconcileReport(account: account, startedAt: startedAt)
        var pass: ListingPass?
        var leaseLost = false
        do {
            let begun = try await storage.beginPass(account: account, startedAt: startedAt, lease: lease)
            pass = begun
            report.subscribedAtStart = begun.subscribedAtStart
            let listing = ListingScan(client: client, storage: storage, pass: begun, clock: clock, isInterrupted: isInterrupted)
            try await listing.run(report: &report)
            report.scanMilliseconds = Int64((ContinuousClock.now - started).milliseconds)

            // Candidates first: they are the subscribers missing from the listing, which the adds
            // below do not touch, and looking for them before a first sync's million adds is cheap.
            let candidates = try await storage.markRemovalCandidates(in: begun)
            report.removalCandidates = candidates.count
            report.updated = try await storage.applyListedFields(in: begun, batchSize: options.batchSize)
            report.added = try await storage.addListed(in: begun)
            let storeHolds = report.subscribedAtStart > 0 || candidates.count > 0
            let guardCount = report.listed == 0 ? candidates.count : candidates.removable.count
            if let reason = options.removalGuard.holdReason(removals: guardCount, subscribedAtStart: report.subscribedAtStart,
                                                            listed: report.listed, storeHoldsSubscribers: storeHolds) {
                report.outcome = .held
                report.reason = reason
                report.held = guardCount
            } else {
                report.removed = try await storage.removeMissing(candidates.removable, in: begun, batchSize: options.batchSize)
                report.outcome = .completed
            }
            report.durationMilliseconds = Int64((ContinuousClock.now - started).milliseconds)
            try await finish(report, pass: begun, complete: true)
        } catch {
            leaseLost = error is ReconcileLeaseLost
            report.outcome = .failed
            report.reason = (error as? ListingScan.Failure)?.reason ?? "\(error)"
            report.durationMilliseconds = Int64((ContinuousClock.now - started).milliseconds)
            do {
                try await finish(report, pass: pass, complete: false)
            } catch {
                logger.error("could not record the failed pass", metadata: ["account": "\(account)", "error": "\(error)"])
            }
        }
        log(report)
        return (report, leaseLost)
    }

    /// Records the outcome and its events in one transaction and drops the listing.
    private func finish(_ report: ReconcileReport, pass: ListingPass?, complete: Bool) async throws {
        let finishedAt = clock.nowMilliseconds()
        let events: [ChangeEvent] = switch report.outcome {
        case .failed: [report.event(.reconcileFailed, at: finishedAt)]
        case .held: [report.event(.reconcileHeld, at: finishedAt), report.event(.reconcileCompleted, at: finishedAt)]
        case .completed: [report.event(.reconcileCompleted, at: finishedAt)]
        }
        try await storage.finishPass(pass, at: finishedAt, outcome: report.outcome.rawValue, complete: complete, events: events,
                                     keepListing: !options.dropListingAfterPass)
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
