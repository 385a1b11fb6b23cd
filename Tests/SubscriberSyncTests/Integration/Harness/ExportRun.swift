import Foundation

/// One run of `subscriber-sync export`: how it ended and what it printed.
struct ExportRun: Sendable {
    var exit: ProcessExit
    var stdout: String
    var stderr: String

    /// Non-empty stdout lines.
    var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }

    /// Every line parsed; throws when one is not a JSON object.
    func records() throws -> [ExportRecord] { try lines.map(ExportRecord.init(line:)) }

    static func run(databasePath: String, account: String?, in directory: URL, name: String, environment: [String: String] = [:],
                    timeout: Duration = .seconds(30)) async throws -> ExportRun {
        var arguments = ["export", "--database", databasePath]
        if let account { arguments += ["--official-account", account] }
        let result = try await SubscriberSyncExecutable.run(arguments, environment: SubscriberSyncExecutable.environment(adding: environment),
                                                            workingDirectory: directory, logDirectory: directory, name: name, timeout: timeout)
        return ExportRun(exit: result.exit, stdout: result.stdout, stderr: result.stderr)
    }
}
