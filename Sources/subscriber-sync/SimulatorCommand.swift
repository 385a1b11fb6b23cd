import ArgumentParser
import Foundation
import Logging
import SubscriberSync
import TencentSimulator

/// `subscriber-sync simulator`: a fake Tencent Chat REST API on loopback for local experiments.
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulator",
        abstract: "Serve a fake Tencent Chat REST API (get_subscriber_info, get_official_account_info) for local experiments.",
        discussion: """
        Checks sdkappid, identifier, usersig and random like Tencent, limits calls per second with 60007, \
        pages with opaque cursors, and can inject random transient faults. The secret key comes from \
        \(secretKeyEnvironment) or --secret-key-file and is never printed.
        """
    )

    static let secretKeyEnvironment = ServiceSettings.secretKeyEnvironment

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free port; the bound one is logged).")
    var listen = "127.0.0.1:9090"

    @Option(help: "SDKAppID of the simulated app.")
    var sdkappid: UInt64 = 1_400_000_000

    @Option(help: "The app admin account REST calls must use.")
    var identifier = "administrator"

    @Option(help: "File holding the app's secret key (else \(secretKeyEnvironment)).")
    var secretKeyFile: String?

    @Option(help: "REST calls allowed in any sliding second; more are refused with 60007.")
    var callsPerSecond = 200

    @Option(name: .customLong("account"), help: "An Official Account to create with COUNT generated subscribers, ID:COUNT (repeatable).")
    var accounts: [String] = []

    @Option(help: "Prefix of generated subscriber accounts (followed by an 8-digit index).")
    var subscriberPrefix = "user"

    @Option(help: "Probability (0 to 1) that an accepted call gets a random transient fault: HTTP 502, garbage, 70500 or a 1.5 s delay.")
    var faultRate = 0.0

    @Option(help: "Cursor semantics: keyset (resume after the last account returned) or offset (resume at an index).")
    var paging = "keyset"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        _ = try readSecretKey()
        _ = try listenAddress()
        _ = try seeds()
        guard (0...1).contains(faultRate) else { throw ValidationError("--fault-rate must be from 0 to 1") }
        guard callsPerSecond >= 1 else { throw ValidationError("--calls-per-second must be at least 1") }
        guard TencentSimulator.PagingMode(rawValue: paging) != nil else { throw ValidationError("--paging must be keyset or offset") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
    }

    func run() async throws {
        let secretKey = try readSecretKey()
        let (host, port) = try listenAddress()
        let logger = Logging.bootstrap(level: logLevel)
        let simulator = TencentSimulator(sdkAppID: sdkappid, adminIdentifier: identifier, secretKey: secretKey,
                                         callsPerSecond: callsPerSecond, pagingMode: TencentSimulator.PagingMode(rawValue: paging) ?? .keyset,
                                         logger: logger)
        for (account, count) in try seeds() {
            let started = ContinuousClock.now
            simulator.seed(account: account, count: count, prefix: subscriberPrefix)
            logger.info("seeded official account", metadata: ["account": "\(account)", "subscribers": "\(count)", "took": "\(ContinuousClock.now - started)"])
        }
        simulator.setRandomFaults(rate: faultRate)
        try await simulator.run(host: host, port: port) { boundHost, boundPort in
            logger.notice("listening on \(boundHost):\(boundPort)", metadata: [
                "sdkappid": "\(sdkappid)", "identifier": "\(identifier)", "callsPerSecond": "\(callsPerSecond)",
                "faultRate": "\(faultRate)", "paging": "\(paging)",
            ])
        }
    }

    func listenAddress() throws -> (String, Int) {
        do {
            return try ServiceSettings.hostAndPort(listen, key: .listen)
        } catch {
            throw ValidationError("--listen must be HOST:PORT, got \"\(listen)\"")
        }
    }

    /// `ID:COUNT`, split at the last colon.
    func seeds() throws -> [(String, Int)] {
        try accounts.map { entry in
            guard let colon = entry.lastIndex(of: ":"), let count = Int(entry[entry.index(after: colon)...]), count >= 0,
                  colon > entry.startIndex else {
                throw ValidationError("--account must be ID:COUNT, e.g. @TOA#_demo:10000, got \"\(entry)\"")
            }
            return (String(entry[..<colon]), count)
        }
    }

    /// The file wins over the environment; surrounding whitespace is dropped. Never logged.
    func readSecretKey() throws -> String {
        let key: String?
        do {
            key = try ServiceSettings.secret(file: secretKeyFile, environment: ProcessInfo.processInfo.environment[Self.secretKeyEnvironment],
                                           name: "secret key")
        } catch {
            throw ValidationError("\(error)")
        }
        guard let key else { throw ValidationError("no secret key: set \(Self.secretKeyEnvironment) or --secret-key-file") }
        return key
    }
}
