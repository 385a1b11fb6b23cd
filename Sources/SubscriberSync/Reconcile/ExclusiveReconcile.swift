import Foundation
import Logging
import Synchronization

/// Runs reconcile passes under the store's reconciler lease (`ReconcileLeaseGrant`), so that
/// across replicas and `reconcile` commands at most one process lists at a time, and replicas
/// share one schedule.
public struct ExclusiveReconcile: Sendable {
    let reconciler: Reconciler
    let storage: any SubscriberStorage
    /// Who this process is, in the lease row.
    let holder: String
    let logger: Logger
    /// A crashed holder's lease frees after this long; a live one renews a third of the way.
    static let leaseMilliseconds: Int64 = 30_000

    public init(reconciler: Reconciler, storage: any SubscriberStorage, holder: String, logger: Logger) {
        self.reconciler = reconciler
        self.storage = storage
        self.holder = holder
        self.logger = logger
    }

    /// Runs one pass over each of `accounts()` while holding the lease. nil when the lease was not
    /// taken: held by another process (unless `wait`, which polls until it frees), or, with `due`,
    /// because the last run started less than `due` ago. A pass whose lease is lost (this process
    /// paused past the lease) stops at its next page, as on SIGTERM, and a repair it was about to
    /// write finds the lease gone in its transaction (`ReconcileLeaseLost`) and writes nothing.
    public func run(due: Duration?, wait: Bool, accounts: @Sendable () async throws -> [String],
                    isInterrupted: @escaping @Sendable () -> Bool) async throws -> [ReconcileReport]? {
        let dueMilliseconds = due.map { Int64($0.milliseconds) }
        var grant = try await storage.acquireReconcileLease(holder: holder, durationMilliseconds: Self.leaseMilliseconds,
                                                            dueAfterMilliseconds: dueMilliseconds)
        if grant == nil && wait {
            logger.notice("another process is running a reconcile pass on this store; waiting for it to finish")
            while grant == nil && !isInterrupted() {
                try await Task.sleep(for: .milliseconds(500))
                grant = try await storage.acquireReconcileLease(holder: holder, durationMilliseconds: Self.leaseMilliseconds,
                                                                dueAfterMilliseconds: nil)
            }
        }
        guard let grant else { return nil }
        let lost = Atomic<Bool>(false)
        let renewer = Task { [storage, logger] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Self.leaseMilliseconds / 3))
                if Task.isCancelled { return }
                do {
                    if try await !storage.renewReconcileLease(grant) {
                        logger.warning("lost the reconcile lease; stopping this pass at the next page")
                        lost.store(true, ordering: .relaxed)
                        return
                    }
                } catch {
                    logger.warning("could not renew the reconcile lease", metadata: ["error": "\(error)"])
                }
            }
        }
        let reports: [ReconcileReport]
        do {
            reports = await reconciler.run(accounts: try await accounts(), lease: grant,
                                           isInterrupted: { isInterrupted() || lost.load(ordering: .relaxed) })
        } catch {
            renewer.cancel()
            try? await storage.releaseReconcileLease(grant)
            throw error
        }
        renewer.cancel()
        try? await storage.releaseReconcileLease(grant)
        return reports
    }
}
