import Logging
import ServiceLifecycle

/// The periodic reconcile loop inside `serve`: shortly after start-up, then every interval with
/// ±10% jitter (so that many instances do not hit Tencent in step). It runs beside the HTTP
/// server, never blocking callbacks; on SIGTERM the current pass stops at a page boundary.
public struct ReconcileService: Service {
    let reconciler: Reconciler
    let configuredAccounts: [String]
    let interval: Duration
    let firstDelay: Duration
    let logger: Logger

    public init(reconciler: Reconciler, configuredAccounts: [String], interval: Duration, firstDelay: Duration = .seconds(5), logger: Logger) {
        self.reconciler = reconciler
        self.configuredAccounts = configuredAccounts
        self.interval = interval
        self.firstDelay = firstDelay
        self.logger = logger
    }

    public func run() async throws {
        var delay = firstDelay
        while !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { [delay] in try await Task.sleep(for: delay) }
            } catch {
                return
            }
            if Task.isShuttingDownGracefully { return }
            do {
                let accounts = try await reconciler.accounts(configured: configuredAccounts)
                if accounts.isEmpty {
                    logger.info("no official accounts to reconcile yet (none configured, none seen in callbacks)")
                }
                _ = await reconciler.run(accounts: accounts, isInterrupted: { Task.isShuttingDownGracefully })
            } catch {
                logger.error("reconcile loop could not start a pass", metadata: ["error": "\(error)"])
            }
            delay = interval * Double.random(in: 0.9...1.1)
        }
    }
}
