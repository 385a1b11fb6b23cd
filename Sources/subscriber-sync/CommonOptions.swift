import ArgumentParser
import SubscriberSync

/// The options every long-running command shares. Each is optional here so that the environment
/// and the config file can supply it (flags > environment > file > defaults).
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "A YAML (.yaml/.yml) or JSON (.json) config file with the settings below as keys.")
    var configFile: String?

    @Option(help: help(.listen, "Address to listen on, HOST:PORT.", default: "127.0.0.1:8080"))
    var listen: String?

    @Option(help: help(.callbackPath, "Path of the callback URL registered in the Chat console.", default: "/tencent/callback"))
    var callbackPath: String?

    @Option(help: help(.database, "SQLite database file (created when missing), or postgres://USER@HOST[:PORT]/DBNAME[?sslmode=…] (password: PGPASSWORD or --database-password-file, never in this flag).", default: "subscriber-sync.sqlite"))
    var database: String?

    @Option(help: help(.databasePasswordFile, "File holding the PostgreSQL password (else the URL from env/config, else PGPASSWORD).", default: nil))
    var databasePasswordFile: String?

    @Option(help: help(.events, "Where events go: stdout or a file path (appended; reopened on SIGHUP).", default: "stdout"))
    var events: String?

    @Option(help: help(.eventsRotateBytes, "Rotate the events file when it would grow past N bytes (renamed to PATH.<UTC timestamp>).", default: "off"))
    var eventsRotateBytes: String?

    @Option(help: help(.sdkappid, "SDKAppID of the Chat app (required).", default: nil))
    var sdkappid: String?

    @Option(help: help(.identifier, "App admin account used for REST calls.", default: "administrator"))
    var identifier: String?

    @Option(name: .customLong("official-account"), help: help(.officialAccounts, "An Official Account ID (@TOA#_…) to keep in sync; repeatable. Environment: comma-separated.", default: "none"))
    var officialAccounts: [String] = []

    @Option(help: help(.secretKeyFile, "File holding the app's secret key (else \(ServiceSettings.secretKeyEnvironment)).", default: nil))
    var secretKeyFile: String?

    @Option(help: help(.callbackTokenFile, "File holding the callback authentication token (else \(ServiceSettings.callbackTokenEnvironment)). Without a token callbacks are not authenticated.", default: nil))
    var callbackTokenFile: String?

    @Option(help: help(.requestTimeWindow, "Seconds a signed callback's RequestTime may differ from now.", default: "60"))
    var requestTimeWindow: String?

    @Option(help: help(.logLevel, "Log level: trace, debug, info, notice, warning, error, critical.", default: "info"))
    var logLevel: String?

    @Option(help: help(.region, "Tencent data center of the app: \(TencentRegion.allCases.map(\.rawValue).joined(separator: ", ")).", default: "singapore"))
    var region: String?

    @Option(name: .customLong("api-base-url"), help: help(.apiBaseUrl, "REST API base URL; overrides --region (e.g. the simulator's http://127.0.0.1:9090).", default: nil))
    var apiBaseURL: String?

    @Option(help: help(.apiRateLimit, "REST calls per second, at most, in any one-second window (Tencent allows 200).", default: "180"))
    var apiRateLimit: String?

    @Option(help: help(.apiTimeout, "Seconds to wait for one REST answer.", default: "10"))
    var apiTimeout: String?

    @Option(help: help(.apiMaxAttempts, "Attempts per REST call for transient failures, the first included.", default: "5"))
    var apiMaxAttempts: String?

    @Option(name: .customLong("usersig-validity"), help: help(.usersigValidity, "Validity of the admin UserSig in seconds; renewed after 80%.", default: "604800"))
    var usersigValidity: String?

    @Option(help: help(.reconcileInterval, "Time between reconcile passes in serve (jittered ±10%), e.g. 15m, 90s, 1h; 0 turns it off.", default: "15m"))
    var reconcileInterval: String?

    @Option(help: help(.maxRemovals, "Hold a pass's removals when more than N would be removed.", default: "1000"))
    var maxRemovals: String?

    @Option(help: help(.maxRemovalRatio, "Hold a pass's removals when more than this share of the account's subscribers would be removed.", default: "0.1"))
    var maxRemovalRatio: String?

    @Option(help: help(.removalRatioFloor, "The ratio holds a pass only when its removals also exceed N (so small accounts still lose departed subscribers).", default: "10"))
    var removalRatioFloor: String?

    @Option(help: help(.logFormat, "Operational log format on stderr: text, or json (one object per line).", default: "text"))
    var logFormat: String?

    @Option(help: help(.metricsListen, "Serve /metrics, /healthz and /readyz on this HOST:PORT instead of the callback listener.", default: "the callback listener"))
    var metricsListen: String?

    @Option(name: .customLong("forward"), help: help(.forward, "Pass callbacks on to an existing backend: [PATTERNS=]URL, PATTERNS a comma-separated list of globs on CallbackCommand (such as C2C.*,Group.*); repeatable. Environment: rules separated by ';'.", default: "none"))
    var forward: [String] = []

    @Option(help: help(.forwardTimeout, "How long a before-callback waits for its target, e.g. 1500ms, 2s.", default: "1500ms"))
    var forwardTimeout: String?

    @Option(help: help(.forwardBeforeFallback, "Answer to Tencent when a before-callback's target fails or is too slow: allow or deny.", default: "allow"))
    var forwardBeforeFallback: String?

    @Option(help: help(.forwardTokenFile, "File holding the token that signs forwarded callbacks (else \(ServiceSettings.forwardTokenEnvironment), else the callback token).", default: nil))
    var forwardTokenFile: String?

    @Option(help: help(.forwardMaxAge, "How long an after-callback is retried before it is dead-lettered, e.g. 24h, 90m.", default: "24h"))
    var forwardMaxAge: String?

    @Option(help: help(.outboxRetention, "Delete emitted events older than this from the outbox (replay cannot go further back), e.g. 7d, 36h; 0 keeps everything.", default: "7d"))
    var outboxRetention: String?

    @Option(help: help(.forwardConcurrency, "Deliveries to one target at once (1-64). 1 keeps each target's order; more is faster, but callbacks may then arrive out of order.", default: "1"))
    var forwardConcurrency: String?
    @Option(help: help(.forwardPipeline, "Requests on one target's keep-alive connection at once (1-64), answered in order (HTTP/1.1 pipelining): keeps each target's order at a much higher rate. 1 sends one at a time. Not with --forward-concurrency.", default: "1"))
    var forwardPipeline: String?

    @Option(help: help(.readApiListen, "Serve the read API (Tencent-compatible get_subscriber_info and /v1 endpoints) on this HOST:PORT.", default: "off"))
    var readApiListen: String?

    @Option(help: help(.readApiTokenFile, "File holding the read API's bearer token for the /v1 endpoints (else \(ServiceSettings.readAPITokenEnvironment)); without one they answer 401.", default: nil))
    var readApiTokenFile: String?

    static func help(_ key: ServiceSettings.Key, _ text: String, default defaultValue: String?) -> ArgumentHelp {
        var line = "\(text) (env \(key.environmentVariable), config key \(key.rawValue)"
        if let defaultValue { line += ", default \(defaultValue)" }
        return ArgumentHelp(stringLiteral: line + ")")
    }

    var givenFlags: [ServiceSettings.Key: [String]] {
        var flags: [ServiceSettings.Key: [String]] = [:]
        let single: [(ServiceSettings.Key, String?)] = [
            (.listen, listen), (.callbackPath, callbackPath), (.database, database), (.databasePasswordFile, databasePasswordFile), (.events, events),
            (.eventsRotateBytes, eventsRotateBytes), (.sdkappid, sdkappid), (.identifier, identifier),
            (.secretKeyFile, secretKeyFile), (.callbackTokenFile, callbackTokenFile),
            (.requestTimeWindow, requestTimeWindow), (.logLevel, logLevel),
            (.region, region), (.apiBaseUrl, apiBaseURL), (.apiRateLimit, apiRateLimit), (.apiTimeout, apiTimeout),
            (.apiMaxAttempts, apiMaxAttempts), (.usersigValidity, usersigValidity),
            (.reconcileInterval, reconcileInterval), (.maxRemovals, maxRemovals), (.maxRemovalRatio, maxRemovalRatio),
            (.removalRatioFloor, removalRatioFloor),
            (.logFormat, logFormat), (.metricsListen, metricsListen),
            (.forwardTimeout, forwardTimeout), (.forwardBeforeFallback, forwardBeforeFallback), (.forwardTokenFile, forwardTokenFile),
            (.forwardMaxAge, forwardMaxAge), (.outboxRetention, outboxRetention), (.forwardConcurrency, forwardConcurrency), (.forwardPipeline, forwardPipeline),
            (.readApiListen, readApiListen), (.readApiTokenFile, readApiTokenFile),
        ]
        for case let (key, value?) in single { flags[key] = [value] }
        if !officialAccounts.isEmpty { flags[.officialAccounts] = officialAccounts }
        if !forward.isEmpty { flags[.forward] = forward }
        return flags
    }

    func settings() async throws -> ServiceSettings {
        do {
            return try await ServiceSettings.load(flags: givenFlags, configFile: configFile)
        } catch let error as ServiceSettings.Invalid {
            throw ValidationError(error.description)
        }
    }
}
