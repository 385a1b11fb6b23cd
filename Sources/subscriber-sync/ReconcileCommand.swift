import ArgumentParser
import Logging
import SubscriberSync
import Synchronization
import UnixSignals

struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Run one reconcile pass over every account, then exit.",
        discussion: """
            Exit status: 0 when every pass completed and was applied, 2 when a pass completed but its removals \
            were held by the mass-removal guard, 1 when a pass failed (1 wins over 2). Works beside a running \
            serve on the same database: the running serve emits the events. With --events and no serve \
            holding the emitter, this command emits them before it exits; otherwise they wait in the outbox.
            """
    )

    @OptionGroup var options: CommonOptions

    @Flag(help: "Lift the mass-removal guard for this run (the two-listing rule still applies).")
    var allowMassRemoval = false

    func run() async throws {
        let settings = try await options.settings()
        let logger = Logging.bootstrap(level: settings.logLevel, format: settings.logFormat, warnings: settings.warnings)
        // Without --events this run never emits, so it never opens (let alone repairs) an events
        // file that a running serve may be appending to: the output opens with the emitter lease.
        let app = SubscriberSyncApp(settings: settings, logger: logger)
        try await app.storage.open()
        var removalGuard = settings.removalGuard
        removalGuard.allowMassRemoval = allowMassRemoval
        guard let reconciler = try app.reconciler(removalGuard: removalGuard, oneShot: true) else {
            throw ValidationError("reconcile needs the app's secret key: set \(ServiceSettings.secretKeyEnvironment) or --secret-key-file")
        }
        let interrupted = Atomic<Bool>(false)
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let watcher = Task {
            for await signal in signals {
                logger.notice("received \(signal); stopping at the next page boundary")
                interrupted.store(true, ordering: .relaxed)
            }
        }
        defer { watcher.cancel() }
        // Waits for a pass of a running serve (or another reconcile) instead of overlapping it.
        let exclusive = ExclusiveReconcile(reconciler: reconciler, storage: app.storage, holder: app.holder, logger: logger)
        let configured = settings.officialAccounts
        let reports = try await exclusive.run(due: nil, wait: true, accounts: {
            let accounts = try await reconciler.accounts(configured: configured)
            if accounts.isEmpty {
                logger.warning("no official accounts to reconcile: pass --official-account or let serve see callbacks first")
            }
            return accounts
        }, isInterrupted: { interrupted.load(ordering: .relaxed) }) ?? []
        if options.events != nil {
            if try await !app.emitter.emitPendingIfFree() {
                logger.notice("another process (serve) holds the event emitter; it will emit this pass's events")
            }
        }
        if reports.contains(where: { $0.outcome == .failed }) { throw ExitCode(1) }
        if reports.contains(where: { $0.outcome == .held }) { throw ExitCode(2) }
    }
}
