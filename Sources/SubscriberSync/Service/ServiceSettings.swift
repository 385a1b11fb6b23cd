import Configuration
import Foundation
import SystemPackage

/// The settings `serve`, `reconcile`, `simulator` and `usersig` share, read from (highest first)
/// flags, environment, the `--config` file and defaults, each with a typed read (`SettingValue`).
/// Secrets come only from the environment or from files named by a setting.
public struct ServiceSettings: Sendable {
    public enum EventsOutput: Sendable, Equatable {
        case stdout
        case file(String)
    }

    public var host: String
    public var port: Int
    public var callbackPath: String
    /// `--database`: a SQLite path or a PostgreSQL URL, with its password resolved.
    public var database: StorageLocation
    public var events: EventsOutput
    public var eventsRotateBytes: Int64?
    public var sdkAppID: String
    public var identifier: String
    public var officialAccounts: [String]
    public var requestTimeWindowSeconds: Int64
    public var logLevel: String
    /// `text` or `json` (one JSON object per log line on stderr).
    public var logFormat: String
    /// A second listener for `/metrics`, `/healthz` and `/readyz` only, so the public callback
    /// port need not expose them. nil: they are served on the main listener.
    public var metricsHost: String?
    public var metricsPort: Int?
    /// The REST client's base URL: `--api-base-url`, else the host of `--region`.
    public var apiBaseURL: String
    public var apiRateLimit: Int
    public var apiTimeoutSeconds: Int64
    public var apiMaxAttempts: Int
    public var userSigValiditySeconds: Int64
    /// Seconds between reconcile passes in `serve`; 0 turns the loop off.
    public var reconcileIntervalSeconds: Int64
    public var removalGuard: RemovalGuard
    /// Secrets: never logged, never part of an error message.
    public var callbackToken: String?
    public var secretKey: String?
    /// `--forward` and its companions (the forward token is a secret too).
    public var forwarding: ForwardOptions
    /// Emitted events older than this are deleted from the outbox; nil keeps everything.
    public var outboxRetentionSeconds: Int64?
    /// `--read-api-listen` and its token; nil when the read API is off.
    public var readAPI: ReadAPIOptions?
    /// Problems that do not stop the service (unknown `SUBSCRIBER_SYNC_*` variables), to be logged.
    public var warnings: [String]

    /// The settings every command shares, with their flag, environment variable and config key.
    public enum Key: String, CaseIterable, Sendable {
        case listen, callbackPath, database, events, eventsRotateBytes, sdkappid, identifier
        case officialAccounts, secretKeyFile, callbackTokenFile, requestTimeWindow, logLevel
        case region, apiBaseUrl, apiRateLimit, apiTimeout, apiMaxAttempts, usersigValidity
        case reconcileInterval, maxRemovals, maxRemovalRatio, removalRatioFloor
        case logFormat, metricsListen, databasePasswordFile
        case forward, forwardTimeout, forwardBeforeFallback, forwardTokenFile, forwardMaxAge, forwardConcurrency, forwardPipeline
        case outboxRetention, readApiListen, readApiTokenFile

        /// What every setting's environment variable starts with.
        public static let environmentPrefix = "SUBSCRIBER_SYNC_"

        /// `SUBSCRIBER_SYNC_` + the key in upper snake case, as swift-configuration derives it.
        public var environmentVariable: String {
            var name = Self.environmentPrefix
            for character in rawValue {
                if character.isUppercase { name += "_" }
                name += character.uppercased()
            }
            return name
        }
    }

    public static let secretKeyEnvironment = "TENCENT_SECRET_KEY"
    public static let callbackTokenEnvironment = "TENCENT_CALLBACK_TOKEN"
    /// Signs forwarded callbacks; by default the callback token signs them.
    public static let forwardTokenEnvironment = "SUBSCRIBER_SYNC_FORWARD_TOKEN"
    /// The read API's bearer token.
    public static let readAPITokenEnvironment = "SUBSCRIBER_SYNC_READ_API_TOKEN"
    /// libpq's variable: the PostgreSQL password when the URL has none.
    public static let databasePasswordEnvironment = "PGPASSWORD"

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// - Parameters:
    ///   - flags: values given on the command line, by key (only those the user gave).
    ///   - configFile: path of a YAML (`.yaml`/`.yml`) or JSON file.
    public static func load(flags: [Key: [String]], configFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> ServiceSettings {
        if let given = flags[.database]?.last, StorageLocation.hasPassword(given) {
            throw Invalid(Self.passwordInFlag)
        }
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, given) in flags {
            // Forward rules are read apart (`forwardOptions`): their separator differs by source.
            guard key != .forward else { continue }
            let content: ConfigContent = key == .officialAccounts ? .stringArray(given) : .string(given.last ?? "")
            values[AbsoluteConfigKey([key.rawValue])] = ConfigValue(content, isSecret: false)
        }
        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "flags", values: values),
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "subscriberSync"),
        ]
        if let configFile {
            guard FileManager.default.isReadableFile(atPath: configFile) else {
                throw Invalid("cannot read config file \(configFile)")
            }
            do {
                if configFile.hasSuffix(".json") {
                    providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(configFile)))
                } else {
                    providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(configFile)))
                }
            } catch {
                throw Invalid("cannot parse config file \(configFile): \(error)")
            }
            if let contents = FileManager.default.contents(atPath: configFile) {
                try UnknownSettings.check(configFile: configFile, contents: contents)
            }
        }
        return try ServiceSettings(reader: ConfigReader(providers: providers), environment: environment, forwardFlags: flags[.forward] ?? [])
    }

    init(reader: ConfigReader, environment: [String: String], forwardFlags: [String] = []) throws {
        (host, port) = try Self.hostAndPort(reader.text(.listen) ?? "127.0.0.1:8080", key: .listen)
        if let metricsListen = reader.text(.metricsListen) {
            let (metricsHost, metricsPort) = try Self.hostAndPort(metricsListen, key: .metricsListen)
            self.metricsHost = metricsHost
            self.metricsPort = metricsPort
        }
        logFormat = reader.text(.logFormat) ?? "text"
        guard ["text", "json"].contains(logFormat) else {
            throw Invalid("logFormat must be text or json, got \"\(logFormat)\"")
        }

        callbackPath = reader.text(.callbackPath) ?? "/tencent/callback"
        guard callbackPath.hasPrefix("/"), !["/healthz", "/readyz", "/metrics"].contains(callbackPath) else {
            throw Invalid("callbackPath must start with / and not be /healthz, /readyz or /metrics")
        }
        database = try Self.storageLocation(reader.text(.database) ?? "subscriber-sync.sqlite",
                                            passwordFile: reader.text(.databasePasswordFile), environment: environment)
        let eventsValue = reader.text(.events) ?? "stdout"
        events = eventsValue == "stdout" || eventsValue == "-" ? .stdout : .file(eventsValue)
        eventsRotateBytes = try reader.integer(.eventsRotateBytes, in: 1024...Int64.max)
        if eventsRotateBytes != nil && events == .stdout {
            throw Invalid("eventsRotateBytes needs events to be a file path")
        }

        guard let sdkAppID = reader.text(.sdkappid), !sdkAppID.isEmpty, sdkAppID.allSatisfy(\.isASCII), UInt64(sdkAppID) != nil else {
            throw Invalid("sdkappid is required: the SDKAppID of the Chat app, a number (--sdkappid or \(Key.sdkappid.environmentVariable))")
        }
        self.sdkAppID = sdkAppID
        identifier = reader.text(.identifier) ?? "administrator"
        officialAccounts = (reader.stringArray(forKey: Key.officialAccounts.configKey) ?? [])
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        requestTimeWindowSeconds = try reader.integer(.requestTimeWindow, in: 1...86_400) ?? 60
        logLevel = reader.text(.logLevel) ?? "info"
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw Invalid("logLevel must be one of trace, debug, info, notice, warning, error, critical")
        }

        let region = reader.text(.region) ?? TencentRegion.singapore.rawValue
        guard let knownRegion = TencentRegion(rawValue: region) else {
            throw Invalid("region must be one of \(TencentRegion.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(region)\"")
        }
        apiBaseURL = reader.text(.apiBaseUrl) ?? knownRegion.baseURL
        guard apiBaseURL.hasPrefix("http://") || apiBaseURL.hasPrefix("https://") else {
            throw Invalid("apiBaseUrl must start with http:// or https://")
        }
        apiRateLimit = Int(try reader.integer(.apiRateLimit, in: 1...10_000) ?? 180)
        apiTimeoutSeconds = try reader.integer(.apiTimeout, in: 1...600) ?? 10
        apiMaxAttempts = Int(try reader.integer(.apiMaxAttempts, in: 1...100) ?? 5)
        userSigValiditySeconds = try reader.integer(.usersigValidity, in: 86_400...50 * 365 * 86_400) ?? 7 * 86_400

        let interval = reader.text(.reconcileInterval) ?? "15m"
        guard let seconds = Self.parseDuration(interval), seconds >= 0, seconds <= 30 * 86_400 else {
            throw Invalid("reconcileInterval must be a duration up to 30d like 15m, 90s, 1h, or 0 (off), got \"\(interval)\"")
        }
        reconcileIntervalSeconds = seconds
        let maxRemovals = Int(try reader.integer(.maxRemovals, in: 0...Int64(Int32.max)) ?? 1000)
        let ratio = try reader.fraction(.maxRemovalRatio) ?? 0.1
        let floor = Int(try reader.integer(.removalRatioFloor, in: 0...Int64(Int32.max)) ?? 10)
        removalGuard = RemovalGuard(maxRemovals: maxRemovals, maxRemovalRatio: ratio, removalRatioFloor: floor)

        callbackToken = try Self.secret(file: reader.text(.callbackTokenFile), environment: environment[Self.callbackTokenEnvironment], name: "callback token")
        secretKey = try Self.secret(file: reader.text(.secretKeyFile), environment: environment[Self.secretKeyEnvironment], name: "secret key")
        warnings = UnknownSettings.environmentWarnings(environment)
        let retention = reader.text(.outboxRetention) ?? "7d"
        guard let retentionSeconds = Self.parseDuration(retention), retentionSeconds >= 0, retentionSeconds <= 3_650 * 86_400 else {
            throw Invalid("outboxRetention must be a duration like 7d, 36h or 90m, or 0 (keep everything), got \"\(retention)\"")
        }
        outboxRetentionSeconds = retentionSeconds == 0 ? nil : retentionSeconds
        forwarding = try Self.forwardOptions(flags: forwardFlags, reader: reader, environment: environment, callbackToken: callbackToken)
        if let readAPIListen = reader.text(.readApiListen) {
            let (readHost, readPort) = try Self.hostAndPort(readAPIListen, key: .readApiListen)
            let token = try Self.secret(file: reader.text(.readApiTokenFile), environment: environment[Self.readAPITokenEnvironment], name: "read API token")
            readAPI = ReadAPIOptions(host: readHost, port: readPort, token: token)
        }
    }

    /// Rules: flags (repeated), else `SUBSCRIBER_SYNC_FORWARD` split on `;` (patterns hold commas),
    /// else the config file's list.
    static func forwardOptions(flags: [String], reader: ConfigReader, environment: [String: String],
                               callbackToken: String?) throws -> ForwardOptions {
        var texts: [String]
        if !flags.isEmpty {
            texts = flags
        } else if let variable = environment[Key.forward.environmentVariable] {
            texts = variable.split(separator: ";").map(String.init)
        } else {
            texts = reader.stringArray(forKey: Key.forward.configKey) ?? reader.string(forKey: Key.forward.configKey).map { [$0] } ?? []
        }
        texts = texts.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var options = ForwardOptions()
        do {
            options.rules = try texts.map { text throws(ForwardRule.Invalid) in try ForwardRule.parse(text) }
        } catch {
            throw Invalid(error.description)
        }
        let timeout = reader.text(.forwardTimeout) ?? "1500ms"
        guard let milliseconds = parseMilliseconds(timeout), milliseconds >= 1, milliseconds <= 60_000 else {
            throw Invalid("forwardTimeout must be a duration from 1ms to 60s like 1500ms or 2s, got \"\(timeout)\"")
        }
        options.timeout = .milliseconds(milliseconds)
        let fallback = reader.text(.forwardBeforeFallback) ?? "allow"
        guard let beforeFallback = ForwardOptions.Fallback(rawValue: fallback) else {
            throw Invalid("forwardBeforeFallback must be allow or deny, got \"\(fallback)\"")
        }
        options.beforeFallback = beforeFallback
        let maxAge = reader.text(.forwardMaxAge) ?? "24h"
        guard let maxAgeMilliseconds = parseMilliseconds(maxAge), maxAgeMilliseconds >= 1_000, maxAgeMilliseconds <= 30 * 86_400_000 else {
            throw Invalid("forwardMaxAge must be a duration from 1s to 30d like 24h or 90m, got \"\(maxAge)\"")
        }
        options.maxAgeMilliseconds = maxAgeMilliseconds
        options.concurrency = Int(try reader.integer(.forwardConcurrency, in: 1...64) ?? 1)
        options.pipeline = Int(try reader.integer(.forwardPipeline, in: 1...64) ?? 1)
        if options.pipeline > 1 && options.concurrency > 1 {
            // Pipelining exists to keep the order at speed; concurrency gives the order up.
            throw Invalid("forwardPipeline and forwardConcurrency cannot both be above 1: choose pipelining (keeps each target's order) or concurrency")
        }
        let forwardToken = try secret(file: reader.text(.forwardTokenFile), environment: environment[forwardTokenEnvironment], name: "forward token")
        if forwardToken != nil && callbackToken == nil {
            // Callbacks would go out with a valid Sign that nobody checked on the way in.
            throw Invalid("a forward token needs a callback token (\(callbackTokenEnvironment) or --callback-token-file): without one, unauthenticated callbacks would be passed on signed")
        }
        options.token = forwardToken ?? callbackToken
        return options
    }

    /// `1500ms`, or any duration `parseDuration` reads (`2s`, `1h30m`) → milliseconds.
    static func parseMilliseconds(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed.hasSuffix("ms") {
            return Int64(trimmed.dropLast(2))
        }
        guard let seconds = parseDuration(trimmed) else { return nil }
        let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        return overflow ? nil : milliseconds
    }

    public static func hostAndPort(_ value: String, key: Key) throws -> (String, Int) {
        guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]), (0...65535).contains(port),
              colon != value.startIndex else {
            throw Invalid("\(key.rawValue) must be HOST:PORT, got \"\(value)\"")
        }
        return (String(value[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    public static let passwordInFlag = "a password in --database is refused: command-line flags show in ps to every user of the host. Put it in PGPASSWORD or in a file named by --database-password-file, or give the URL through SUBSCRIBER_SYNC_DATABASE or the config file"

    /// `value` (never a flag carrying a password; `load` refuses those) with its password: from
    /// the password file, else from the URL, else from `PGPASSWORD`.
    public static func storageLocation(_ value: String, passwordFile: String?, environment: [String: String]) throws -> StorageLocation {
        let location: StorageLocation
        do {
            location = try StorageLocation.parse(value)
        } catch let error as StorageLocation.Invalid {
            throw Invalid(error.description)
        }
        // A SQLite file has no password: a password file shared by every host's settings is not
        // even read then.
        guard case .postgres(var postgres) = location else { return location }
        if let filePassword = try secret(file: passwordFile, environment: nil, name: "database password") {
            postgres.password = filePassword
        } else if postgres.password == nil {
            postgres.password = try secret(file: nil, environment: environment[databasePasswordEnvironment], name: "database password")
        }
        return .postgres(postgres)
    }

    /// `90`, `90s`, `15m`, `1h`, `1h30m` → seconds.
    static func parseDuration(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let plain = Int64(trimmed) { return plain }
        var total: Int64 = 0
        var digits = ""
        for character in trimmed {
            if character.isNumber {
                digits.append(character)
                continue
            }
            guard let value = Int64(digits) else { return nil }
            let unit: Int64
            switch character {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86_400
            default: return nil
            }
            let (seconds, overflow) = value.multipliedReportingOverflow(by: unit)
            let (sum, sumOverflow) = total.addingReportingOverflow(seconds)
            guard !overflow, !sumOverflow else { return nil }
            total = sum
            digits = ""
        }
        return digits.isEmpty && !trimmed.isEmpty ? total : nil
    }

    /// The REST client's settings; the secret key is required from here on.
    public func clientConfiguration() throws -> TencentClientConfiguration {
        guard let secretKey else {
            throw Invalid("the app's secret key is required for REST calls: set \(Self.secretKeyEnvironment) or --secret-key-file")
        }
        return TencentClientConfiguration(
            baseURL: apiBaseURL, sdkAppID: UInt64(sdkAppID) ?? 0, identifier: identifier, secretKey: secretKey,
            rateLimit: apiRateLimit, timeout: .seconds(apiTimeoutSeconds), maxAttempts: apiMaxAttempts,
            userSigValiditySeconds: userSigValiditySeconds
        )
    }

    /// A secret from its file (which wins, as a setting does over the environment) or from its
    /// environment variable. Trailing whitespace is dropped: editors add a final newline.
    public static func secret(file: String?, environment: String?, name: String) throws -> String? {
        if let file {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                throw Invalid("cannot read the \(name) file \(file)")
            }
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else { throw Invalid("the \(name) file \(file) is empty") }
            return value
        }
        guard let environment else { return nil }
        let value = environment.trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
    }
}
