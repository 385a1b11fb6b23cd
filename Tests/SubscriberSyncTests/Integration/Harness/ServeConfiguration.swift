// How a test starts `subscriber-sync serve`: the options `ServiceProcess.start` turns into arguments.

/// How `serve` gets its callback token.
enum TokenSource: Sendable {
    case none
    /// Written to a file in the sandbox and passed with `--callback-token-file`.
    case file(String)
    /// Passed in the environment as `TENCENT_CALLBACK_TOKEN`.
    case environment(String)

    var token: String? {
        switch self {
        case .none: nil
        case .file(let token), .environment(let token): token
        }
    }
}

struct ServeConfiguration: Sendable {
    var sdkAppID = IntegrationDefaults.sdkAppID
    /// File names are relative to the sandbox directory.
    var database = "store.sqlite"
    /// Set by the sandbox on PostgreSQL: the `--database` URL (no password) instead of `database`.
    var databaseURL: String? = nil
    /// Added to the process's environment (PGPASSWORD on PostgreSQL).
    var environment: [String: String] = [:]
    var events = "events.jsonl"
    var rotateBytes: Int? = nil
    var token: TokenSource = .file(IntegrationDefaults.token)
    var extraArguments: [String] = []
}
