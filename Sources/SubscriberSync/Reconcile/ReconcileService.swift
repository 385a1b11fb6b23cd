import Logging
import ServiceLifecycle

/// The periodic reconcile loop inside `serve`: shortly after start-up, then every interval with
/// ±10% jitter. It runs beside the HTTP server, never blocking callbacks; on SIGTERM the current
/// pass stops at a page boundary.
///
/// Replicas on one store share the schedule through the reconciler lease: each checks every
/// `poll` whether a run is due (the last one, by any replica, started an interval ago) and the
/// first to take the lease runs it. When the process running a pass dies, its lease frees and
/// another replica runs the next one within an interval and a poll.
public struct ReconcileService: Service {
    let reconciler: ExclusiveReconcile
    let configuredAccounts: [String]
    let interval: Duration
    let firstDelay: Duration
    let logger: Logger

    /// How often a replica checks whether a run is due.
    static let poll: Duration = .seconds(15)
    /// After SIGTERM, how long a pass may take to reach its page boundary before it is cancelled.
    /// A page takes milliseconds; a store operation stuck behind a database that went away could
    /// otherwise hold the process for its whole patience (minutes for a repair).
    static let shutdownGrace: Duration = .seconds(5)

    public init(reconciler: ExclusiveReconcile, configuredAccounts: [String], interval: Duration, firstDelay: Duration = .seconds(5),
                logger: Logger) {
        self.reconciler = reconciler
        self.configuredAccounts = configuredAccounts
        self.interval = interval
        self.firstDelay = firstDelay
        self.logger = logger
    }

    public func run() async throws {
        var delay = firstDelay
        // The first run after start does not wait for the schedule, as a single process always did.
        var due: Duration?
        while !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { [delay] in try await Task.sleep(for: delay) }
            } catch {
                return
            }
            if Task.isShuttingDownGracefully { return }
            do {
                let (exclusive, passes, configured, logger) = (reconciler, reconciler.reconciler, configuredAccounts, self.logger)
                let reports = try await Self.cancelledAfterShutdownGrace { [due] in
                    try await exclusive.run(due: due, wait: false, accounts: {
                        let accounts = try await passes.accounts(configured: configured)
                        if accounts.isEmpty {
                            logger.info("no official accounts to reconcile yet (none configured, none seen in callbacks)")
                        }
                        return accounts
                    }, isInterrupted: { Task.isShuttingDownGracefully })
                }
                if Task.isShuttingDownGracefully { return }
                if reports == nil && due == nil {
                    logger.info("another replica is running the reconcile schedule")
                }
            } catch {
                logger.error("reconcile loop could not start a pass", metadata: ["error": "\(error)"])
            }
            due = interval * Double.random(in: 0.9...1.1)
            delay = min(interval, Self.poll)
        }
    }

    /// `body`, cancelled when it is still running `shutdownGrace` after graceful shutdown began.
    private static func cancelledAfterShutdownGrace<T: Sendable>(_ body: @escaping @Sendable () async throws -> T?) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await gracefulShutdown()
                try await Task.sleep(for: shutdownGrace)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }
}
