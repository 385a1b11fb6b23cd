import Foundation
import SubscriberSync

/// One run of `subscriber-sync reconcile` (a child process) against a simulator and a sandbox's
/// store. The wait does not hold a thread: an in-process simulator needs the cooperative pool to
/// answer.
struct ReconcileRun: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String

    /// `accounts`: `--official-account` for each (none: the accounts the store knows).
    static func run(_ harness: SimulatorHarness, sandbox: Sandbox, accounts: [String], events: String? = "reconcile-events.jsonl",
                    extra: [String] = []) async throws -> ReconcileRun {
        var arguments = ["reconcile", "--sdkappid", String(SimulatorHarness.sdkAppID), "--api-base-url", harness.baseURL,
                         "--database", sandbox.database(), "--log-level", "notice"]
        for account in accounts { arguments += ["--official-account", account] }
        if let events { arguments += ["--events", sandbox.path(events)] }
        let environment = sandbox.databaseEnvironment.merging([ServiceSettings.secretKeyEnvironment: SimulatorHarness.key]) { $1 }
        let result = try await SubscriberSyncExecutable.run(
            arguments + extra, environment: SubscriberSyncExecutable.environment(adding: environment),
            workingDirectory: sandbox.directory, logDirectory: sandbox.directory, name: "reconcile-\(sandbox.nextNumber())",
            timeout: .seconds(90))
        return ReconcileRun(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }
}

extension Sandbox {
    /// Runs `subscriber-sync accounts` with `arguments` on this sandbox's store.
    func accounts(_ arguments: [String] = []) async throws -> ReconcileRun {
        try await storeCommand("accounts", arguments)
    }

    /// Runs a `subscriber-sync` command that takes `--database` (accounts, forwards, replay) on this
    /// sandbox's store.
    func storeCommand(_ command: String, _ arguments: [String] = []) async throws -> ReconcileRun {
        let result = try await SubscriberSyncExecutable.run(
            [command, "--database", database()] + arguments, environment: SubscriberSyncExecutable.environment(adding: databaseEnvironment),
            workingDirectory: directory, logDirectory: directory, name: "\(command)-\(nextNumber())")
        return ReconcileRun(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }
}
