import ArgumentParser
import SubscriberSync

/// The options every long-running command shares. Each is optional here so that the environment
/// and the config file can supply it (flags > environment > file > defaults).
struct ServeOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "A YAML (.yaml/.yml) or JSON (.json) config file with the settings below as keys.")
    var configFile: String?

    @Option(help: help(.listen, "Address to listen on, HOST:PORT.", default: "127.0.0.1:8080"))
    var listen: String?

    @Option(help: help(.callbackPath, "Path of the callback URL registered in the Chat console.", default: "/tencent/callback"))
    var callbackPath: String?

    @Option(help: help(.database, "SQLite database file (created when missing).", default: "subscriber-sync.sqlite"))
    var database: String?

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

    @Option(help: help(.secretKeyFile, "File holding the app's secret key (else \(ServeSettings.secretKeyEnvironment)).", default: nil))
    var secretKeyFile: String?

    @Option(help: help(.callbackTokenFile, "File holding the callback authentication token (else \(ServeSettings.callbackTokenEnvironment)). Without a token callbacks are not authenticated.", default: nil))
    var callbackTokenFile: String?

    @Option(help: help(.requestTimeWindow, "Seconds a signed callback's RequestTime may differ from now.", default: "60"))
    var requestTimeWindow: String?

    @Option(help: help(.logLevel, "Log level: trace, debug, info, notice, warning, error, critical.", default: "info"))
    var logLevel: String?

    static func help(_ key: ServeSettings.Key, _ text: String, default defaultValue: String?) -> ArgumentHelp {
        var line = "\(text) (env \(key.environmentVariable), config key \(key.rawValue)"
        if let defaultValue { line += ", default \(defaultValue)" }
        return ArgumentHelp(stringLiteral: line + ")")
    }

    var givenFlags: [ServeSettings.Key: [String]] {
        var flags: [ServeSettings.Key: [String]] = [:]
        let single: [(ServeSettings.Key, String?)] = [
            (.listen, listen), (.callbackPath, callbackPath), (.database, database), (.events, events),
            (.eventsRotateBytes, eventsRotateBytes), (.sdkappid, sdkappid), (.identifier, identifier),
            (.secretKeyFile, secretKeyFile), (.callbackTokenFile, callbackTokenFile),
            (.requestTimeWindow, requestTimeWindow), (.logLevel, logLevel),
        ]
        for case let (key, value?) in single { flags[key] = [value] }
        if !officialAccounts.isEmpty { flags[.officialAccounts] = officialAccounts }
        return flags
    }

    func settings() async throws -> ServeSettings {
        do {
            return try await ServeSettings.load(flags: givenFlags, configFile: configFile)
        } catch let error as ServeSettings.Invalid {
            throw ValidationError(error.description)
        }
    }
}
