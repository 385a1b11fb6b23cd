// The real `subscriber-sync serve` as a child process, listening on loopback, for tests that need
// what only a process has: signals, a crash, two processes on one database, its exit status.

import AsyncHTTPClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One running `subscriber-sync serve`.
final class ServiceProcess: Sendable {
    let name: String
    let child: ChildProcess
    let configuration: ServeConfiguration
    let directory: URL
    let port: Int

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var pid: Int32 { child.processIdentifier }
    var isRunning: Bool { child.isRunning }
    var stderrPath: String { child.stderrPath }
    var stdoutPath: String { child.stdoutPath }
    /// The events file; with `--events stdout`, the file the service's stdout goes to.
    var eventsPath: String {
        configuration.events == "stdout" ? stdoutPath : directory.appendingPathComponent(configuration.events).path
    }
    var databasePath: String { directory.appendingPathComponent(configuration.database).path }

    private init(name: String, child: ChildProcess, configuration: ServeConfiguration, directory: URL, port: Int) {
        self.name = name
        self.child = child
        self.configuration = configuration
        self.directory = directory
        self.port = port
    }

    /// Starts `serve` listening on 127.0.0.1:0 and waits (up to `timeout`) for its listening line.
    static func start(_ configuration: ServeConfiguration, in directory: URL, name: String,
                      timeout: Duration = .seconds(20)) async throws -> ServiceProcess {
        var arguments = [
            "serve",
            "--sdkappid", configuration.sdkAppID,
            "--listen", "127.0.0.1:0",
            "--database", configuration.databaseURL ?? directory.appendingPathComponent(configuration.database).path,
            "--events", configuration.events == "stdout" ? "stdout" : directory.appendingPathComponent(configuration.events).path,
        ]
        if let rotateBytes = configuration.rotateBytes {
            arguments += ["--events-rotate-bytes", String(rotateBytes)]
        }
        var extraEnvironment = configuration.environment
        switch configuration.token {
        case .none: break
        case .file(let token):
            let tokenPath = directory.appendingPathComponent("\(name).token").path
            try Data((token + "\n").utf8).write(to: URL(fileURLWithPath: tokenPath))
            arguments += ["--callback-token-file", tokenPath]
        case .environment(let token):
            extraEnvironment["TENCENT_CALLBACK_TOKEN"] = token
        }
        arguments += configuration.extraArguments

        let child = try await ChildProcess.start(try SubscriberSyncExecutable.path(), arguments,
                                                 environment: SubscriberSyncExecutable.environment(adding: extraEnvironment),
                                                 workingDirectory: directory, logDirectory: directory, name: name)
        let listening = await waitUntil(timeout: timeout) {
            listeningPort(in: child.stderrText()) != nil || !child.isRunning
        }
        guard let port = listeningPort(in: child.stderrText()) else {
            await child.kill()
            let why = listening ? "exited (\(child.exitDescription())) before listening" : "did not log its listening line within \(timeout)"
            throw IntegrationError("\(name) \(why); stderr:\n\(child.stderrText())")
        }
        return ServiceProcess(name: name, child: child, configuration: configuration, directory: directory, port: port)
    }

    /// The port from the service's own `listening on 127.0.0.1:<port>` line (Hummingbird's
    /// "Server started and listening on …" lines also name the metrics listener's port).
    static func listeningPort(in text: String) -> Int? {
        let marker = "listening on 127.0.0.1:"
        for line in text.split(separator: "\n") where !line.contains("Server started") {
            guard let range = line.range(of: marker) else { continue }
            let digits = line[range.upperBound...].prefix(while: \.isNumber)
            if let port = Int(digits), port > 0 { return port }
        }
        return nil
    }

    func stderrText() -> String { child.stderrText() }

    /// Waits until stderr contains `text` at least `count` times.
    func waitForStderr(containing text: String, count: Int = 1, timeout: Duration) async -> Bool {
        await waitUntil(timeout: timeout) {
            stderrText().components(separatedBy: text).count - 1 >= count
        }
    }

    /// Sends `signal` (SIGHUP, SIGTERM, SIGINT ...); returns once it is delivered.
    func send(signal: Int32) async {
        await child.send(signal: signal)
    }

    /// SIGKILL, then wait for the process to be reaped. Safe to call more than once.
    func kill() async { await child.kill() }

    /// Waits (without blocking a thread) for the process to end; nil when it is still running.
    func waitForExit(timeout: Duration) async -> ProcessExit? { await child.waitForExit(timeout: timeout) }

    var exit: ProcessExit? { child.exit }

    func exitDescription() -> String { child.exitDescription() }

    /// SIGTERM and wait; SIGKILL (and throw) when it has not exited within `timeout`.
    @discardableResult
    func terminate(timeout: Duration = .seconds(20)) async throws -> ProcessExit {
        await send(signal: SIGTERM)
        if let exit = await waitForExit(timeout: timeout) { return exit }
        await kill()
        throw IntegrationError("\(name) did not exit within \(timeout) of SIGTERM; stderr:\n\(stderrText())")
    }

    /// A client for this service's callback URL.
    func callbacks(client: HTTPClient = .shared) -> CallbackClient {
        CallbackClient(baseURL: baseURL, sdkAppID: configuration.sdkAppID, token: configuration.token.token, client: client)
    }
}
