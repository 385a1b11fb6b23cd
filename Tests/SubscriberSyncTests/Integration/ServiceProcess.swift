// Support for the integration tests: the real `subscriber-sync` executable started as a child
// process, real HTTP over loopback, and readers for what it leaves behind (the events file and the
// output of `subscriber-sync export`).
//
// Every test runs inside `withSandbox`, which gives it its own temporary directory and SIGKILLs
// every process started through it when the test ends, whether it passed, failed or threw.

import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import Synchronization
import Testing
import TencentSimulator
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Errors and polling

struct IntegrationError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration, interval: Duration = .milliseconds(50),
                _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: interval)
    }
}

func nowSeconds() -> Int64 { Int64(Date().timeIntervalSince1970) }

// MARK: - The service process

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
    var events = "events.jsonl"
    var rotateBytes: Int? = nil
    var token: TokenSource = .file(IntegrationDefaults.token)
    var extraArguments: [String] = []
}

enum IntegrationDefaults {
    static let sdkAppID = "1400000000"
    static let token = "integration-token-0123456789"
    static let account = "@TOA#_integration"
    static let addCommand = "OfficialAccount.CallbackAfterAddSubscriber"
    static let deleteCommand = "OfficialAccount.CallbackAfterDeleteSubscriber"
    static let destroyedCommand = "OfficialAccount.CallbackAfterOfficialAccountDestroyed"
    /// 2023-11-14T22:13:20Z, in milliseconds: a base for EventTime values.
    static let baseEventTime: Int64 = 1_700_000_000_000
}

/// How a child process ended.
enum ProcessExit: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    var description: String {
        switch self {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }
}

/// One running `subscriber-sync serve`.
final class ServiceProcess: @unchecked Sendable {
    let name: String
    let process: Process
    let stderrPath: String
    let stdoutPath: String
    let configuration: ServeConfiguration
    let directory: URL
    private(set) var port: Int = 0

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    /// The events file; with `--events stdout`, the file the service's stdout goes to.
    var eventsPath: String {
        configuration.events == "stdout" ? stdoutPath : directory.appendingPathComponent(configuration.events).path
    }
    var databasePath: String { directory.appendingPathComponent(configuration.database).path }

    /// `SUBSCRIBER_SYNC_BIN`, else `subscriber-sync` beside the running test binary.
    static func executablePath() throws -> String {
        if let path = ProcessInfo.processInfo.environment["SUBSCRIBER_SYNC_BIN"], !path.isEmpty {
            return path
        }
        let testBinary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let candidate = URL(fileURLWithPath: testBinary).deletingLastPathComponent().appendingPathComponent("subscriber-sync").path
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw IntegrationError("no subscriber-sync executable at \(candidate); build it (swift build --build-tests) or set SUBSCRIBER_SYNC_BIN")
        }
        return candidate
    }

    /// The environment for child processes: ours without any setting the service would pick up.
    static func childEnvironment(adding extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in
            !key.hasPrefix("SUBSCRIBER_SYNC_") && !key.hasPrefix("TENCENT_")
        }
        for (key, value) in extra { environment[key] = value }
        return environment
    }

    private init(name: String, process: Process, stderrPath: String, stdoutPath: String, configuration: ServeConfiguration, directory: URL) {
        self.name = name
        self.process = process
        self.stderrPath = stderrPath
        self.stdoutPath = stdoutPath
        self.configuration = configuration
        self.directory = directory
    }

    /// Starts `serve` listening on 127.0.0.1:0 and waits (up to `timeout`) for its listening line.
    static func start(_ configuration: ServeConfiguration, in directory: URL, name: String,
                      timeout: Duration = .seconds(20)) async throws -> ServiceProcess {
        var arguments = [
            "serve",
            "--sdkappid", configuration.sdkAppID,
            "--listen", "127.0.0.1:0",
            "--database", directory.appendingPathComponent(configuration.database).path,
            "--events", configuration.events == "stdout" ? "stdout" : directory.appendingPathComponent(configuration.events).path,
        ]
        if let rotateBytes = configuration.rotateBytes {
            arguments += ["--events-rotate-bytes", String(rotateBytes)]
        }
        var extraEnvironment: [String: String] = [:]
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

        let stderrPath = directory.appendingPathComponent("\(name).stderr.log").path
        let stdoutPath = directory.appendingPathComponent("\(name).stdout.log").path
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executablePath())
        process.arguments = arguments
        process.environment = childEnvironment(adding: extraEnvironment)
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        let stderrHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        let stdoutHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        defer {
            try? stderrHandle.close()
            try? stdoutHandle.close()
        }
        process.standardError = stderrHandle
        process.standardOutput = stdoutHandle

        let service = ServiceProcess(name: name, process: process, stderrPath: stderrPath, stdoutPath: stdoutPath,
                                     configuration: configuration, directory: directory)
        try process.run()
        do {
            service.port = try await service.waitForListeningPort(timeout: timeout)
        } catch {
            service.kill()
            throw error
        }
        return service
    }

    private func waitForListeningPort(timeout: Duration) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let port = Self.listeningPort(in: stderrText()) { return port }
            if !process.isRunning {
                throw IntegrationError("\(name) exited (\(exitDescription())) before listening; stderr:\n\(stderrText())")
            }
            if ContinuousClock.now >= deadline {
                throw IntegrationError("\(name) did not log its listening line within \(timeout); stderr:\n\(stderrText())")
            }
            try await Task.sleep(for: .milliseconds(25))
        }
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

    func stderrText() -> String {
        (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
    }

    /// Waits until stderr contains `text` at least `count` times.
    func waitForStderr(containing text: String, count: Int = 1, timeout: Duration) async -> Bool {
        await eventually(timeout: timeout) {
            stderrText().components(separatedBy: text).count - 1 >= count
        }
    }

    func send(signal: Int32) {
        if process.isRunning { _ = Glibc.kill(process.processIdentifier, signal) }
    }

    /// SIGKILL, then wait (up to 10 s) for the process to be reaped. Safe to call more than once.
    func kill() {
        guard process.isRunning else { return }
        _ = Glibc.kill(process.processIdentifier, SIGKILL)
        for _ in 0..<10_000 where process.isRunning { usleep(1_000) }
    }

    /// Waits (without blocking a thread) for the process to end; nil when it is still running.
    func waitForExit(timeout: Duration) async -> ProcessExit? {
        guard await eventually(timeout: timeout, interval: .milliseconds(10), { !process.isRunning }) else { return nil }
        return exit
    }

    var exit: ProcessExit? {
        guard !process.isRunning else { return nil }
        switch process.terminationReason {
        case .exit: return .exited(process.terminationStatus)
        case .uncaughtSignal: return .signaled(process.terminationStatus)
        @unknown default: return .exited(process.terminationStatus)
        }
    }

    func exitDescription() -> String { exit.map(\.description) ?? "still running" }

    /// SIGTERM and wait; SIGKILL (and throw) when it has not exited within `timeout`.
    @discardableResult
    func terminate(timeout: Duration = .seconds(20)) async throws -> ProcessExit {
        send(signal: SIGTERM)
        if let exit = await waitForExit(timeout: timeout) { return exit }
        kill()
        throw IntegrationError("\(name) did not exit within \(timeout) of SIGTERM; stderr:\n\(stderrText())")
    }

    /// A client for this service's callback URL.
    func callbacks(client: HTTPClient = .shared) -> CallbackClient {
        CallbackClient(baseURL: baseURL, sdkAppID: configuration.sdkAppID, token: configuration.token.token, client: client)
    }
}

// MARK: - Sandbox

/// A temporary directory and the processes started in it; everything is torn down by `cleanup()`.
final class Sandbox: @unchecked Sendable {
    let directory: URL
    private let services = Mutex<[ServiceProcess]>([])
    private let counter = Atomic<Int>(0)

    init(label: String) throws {
        let safe = String(label.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.prefix(40).map(Character.init))
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("subscriber-sync-it-\(safe)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Starts `serve`; the process is killed at cleanup if still running.
    func startService(_ configuration: ServeConfiguration = ServeConfiguration(), name: String = "serve") async throws -> ServiceProcess {
        let number = counter.add(1, ordering: .relaxed).newValue
        let service = try await ServiceProcess.start(configuration, in: directory, name: "\(name)-\(number)")
        services.withLock { $0.append(service) }
        return service
    }

    /// Runs `subscriber-sync export` on a database in this sandbox.
    func export(database: String = "store.sqlite", account: String? = nil) async throws -> ExportRun {
        try await ExportRun.run(databasePath: path(database), account: account, in: directory,
                                name: "export-\(counter.add(1, ordering: .relaxed).newValue)")
    }

    /// Kills every process still running and removes the directory (kept when
    /// SUBSCRIBER_SYNC_KEEP_TEST_DIRS is set, for debugging).
    func cleanup() {
        let all = services.withLock { $0 }
        for service in all { service.kill() }
        if ProcessInfo.processInfo.environment["SUBSCRIBER_SYNC_KEEP_TEST_DIRS"] != nil {
            print("integration test directory kept: \(directory.path)")
        } else {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Every service's stderr, for failure messages.
    func allStderr() -> String {
        services.withLock { $0 }.map { "--- \($0.name) (\($0.exitDescription())):\n\($0.stderrText())" }.joined(separator: "\n")
    }
}

/// Runs `body` with a fresh sandbox; every process it started is killed afterwards, even on a throw.
func withSandbox<T>(_ label: String = #function, _ body: (Sandbox) async throws -> T) async throws -> T {
    let sandbox = try Sandbox(label: label)
    do {
        let result = try await body(sandbox)
        sandbox.cleanup()
        return result
    } catch {
        Issue.record("service logs:\n\(sandbox.allStderr())")
        sandbox.cleanup()
        throw error
    }
}

/// Runs `body` with a dedicated HTTP client (more connections per host than the shared one).
func withHTTPClient<T>(connectionsPerHost: Int = 32, _ body: (HTTPClient) async throws -> T) async throws -> T {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connectionsPerHost
    // Short: after a kill, queued requests wait for this while the pool retries connecting.
    configuration.timeout.connect = .seconds(1)
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

// MARK: - export

/// One line of `subscriber-sync export`.
struct ExportRecord: Equatable, Sendable, CustomStringConvertible {
    var officialAccount: String?
    var subscriber: String?
    var subscribeTime: Int64?
    var msgFlag: String?
    var customString: String?
    var lastSendMsgTime: Int64?
    var since: Int64?
    var origin: String?
    /// The keys present in the line, sorted (a null counts as present).
    var keys: [String]

    static let allKeys = ["customString", "lastSendMsgTime", "msgFlag", "officialAccount", "origin", "since", "subscribeTime", "subscriber"]

    init(officialAccount: String, subscriber: String, since: Int64, origin: String = "webhook",
         subscribeTime: Int64? = nil, msgFlag: String? = nil, customString: String? = nil, lastSendMsgTime: Int64? = nil) {
        self.officialAccount = officialAccount
        self.subscriber = subscriber
        self.since = since
        self.origin = origin
        self.subscribeTime = subscribeTime
        self.msgFlag = msgFlag
        self.customString = customString
        self.lastSendMsgTime = lastSendMsgTime
        keys = Self.allKeys
    }

    init(line: String) throws {
        let object = try JSONLine.object(line)
        officialAccount = object["officialAccount"] as? String
        subscriber = object["subscriber"] as? String
        subscribeTime = JSONLine.int64(object["subscribeTime"])
        msgFlag = object["msgFlag"] as? String
        customString = object["customString"] as? String
        lastSendMsgTime = JSONLine.int64(object["lastSendMsgTime"])
        since = JSONLine.int64(object["since"])
        origin = object["origin"] as? String
        keys = object.keys.sorted()
    }

    var description: String {
        "\(officialAccount ?? "nil")/\(subscriber ?? "nil") since=\(since.map(String.init) ?? "nil") origin=\(origin ?? "nil") keys=\(keys)"
    }
}

struct ExportRun: Sendable {
    var exit: ProcessExit
    var stdout: String
    var stderr: String

    /// Non-empty stdout lines.
    var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }

    /// Every line parsed; throws when one is not a JSON object.
    func records() throws -> [ExportRecord] { try lines.map(ExportRecord.init(line:)) }

    static func run(databasePath: String, account: String?, in directory: URL, name: String,
                    timeout: Duration = .seconds(30)) async throws -> ExportRun {
        var arguments = ["export", "--database", databasePath]
        if let account { arguments += ["--official-account", account] }
        let stdoutPath = directory.appendingPathComponent("\(name).stdout").path
        let stderrPath = directory.appendingPathComponent("\(name).stderr").path
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ServiceProcess.executablePath())
        process.arguments = arguments
        process.environment = ServiceProcess.childEnvironment()
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        let stdoutHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        let stderrHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardOutput = stdoutHandle
        process.standardError = stderrHandle
        try process.run()
        try? stdoutHandle.close()
        try? stderrHandle.close()
        let finished = await eventually(timeout: timeout, interval: .milliseconds(10)) { !process.isRunning }
        if !finished {
            _ = Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw IntegrationError("export did not finish within \(timeout)")
        }
        let exit: ProcessExit = process.terminationReason == .exit ? .exited(process.terminationStatus) : .signaled(process.terminationStatus)
        return ExportRun(
            exit: exit,
            stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        )
    }
}

// MARK: - Events

enum JSONLine {
    static func object(_ line: String) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [])
        guard let object = value as? [String: Any] else { throw IntegrationError("not a JSON object: \(line)") }
        return object
    }

    static func int64(_ value: Any?) -> Int64? {
        switch value {
        case let number as NSNumber where !(value is Bool): return number.int64Value
        case let number as Int: return Int64(number)
        case let number as Int64: return number
        default: return nil
        }
    }
}

/// One CloudEvents line of the events output.
struct CloudEvent: Sendable, CustomStringConvertible {
    var line: String
    var specversion: String?
    var id: String
    var source: String?
    var type: String
    var subject: String?
    var sequenceText: String
    var sequence: Int64
    var dataAccount: String?
    var dataSubscriber: String?
    var dataOrigin: String?

    init(line: String) throws {
        self.line = line
        let object = try JSONLine.object(line)
        guard let id = object["id"] as? String, let type = object["type"] as? String,
              let sequenceText = object["sequence"] as? String else {
            throw IntegrationError("event without id, type or sequence: \(line)")
        }
        guard sequenceText.utf8.count == 20, sequenceText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let sequence = Int64(sequenceText) else {
            throw IntegrationError("sequence is not 20 zero-padded digits: \(sequenceText)")
        }
        self.id = id
        self.type = type
        self.sequenceText = sequenceText
        self.sequence = sequence
        specversion = object["specversion"] as? String
        source = object["source"] as? String
        subject = object["subject"] as? String
        let data = object["data"] as? [String: Any]
        dataAccount = data?["officialAccount"] as? String
        dataSubscriber = data?["subscriber"] as? String
        dataOrigin = data?["origin"] as? String
    }

    var isSubscribed: Bool { type.hasSuffix("subscriber.subscribed") }
    var isUnsubscribed: Bool { type.hasSuffix("subscriber.unsubscribed") }

    /// "subscribed"/"unsubscribed"/the type, for compact comparisons.
    var kind: String { isSubscribed ? "subscribed" : isUnsubscribed ? "unsubscribed" : type }

    var description: String { "#\(sequence) \(kind) \(subject ?? "nil") (\(id))" }
}

/// The raw content of an events file, split into lines.
struct EventFileContents: Sendable {
    var bytes: [UInt8]
    /// Complete lines (terminated by "\n"), without the newline.
    var lines: [String]
    /// Bytes after the last newline (a partial line), empty when the file ends with "\n".
    var trailing: String

    init(path: String) {
        bytes = (FileManager.default.contents(atPath: path)).map { [UInt8]($0) } ?? []
        var parts = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        trailing = parts.removeLast()
        lines = parts
    }

    var endsWithNewline: Bool { trailing.isEmpty }

    /// Every complete line parsed as an event; throws on the first that is not one.
    func events() throws -> [CloudEvent] { try lines.map(CloudEvent.init(line:)) }

    /// The lines that parse as events (ignores anything else); for polling.
    func parsableEvents() -> [CloudEvent] { lines.compactMap { try? CloudEvent(line: $0) } }
}

enum EventFile {
    static func read(_ path: String) -> EventFileContents { EventFileContents(path: path) }

    /// Events that parse, from `path` (for polling while the service writes).
    static func events(_ path: String) -> [CloudEvent] { read(path).parsableEvents() }

    /// Distinct event ids in `paths`.
    static func distinctIDs(_ paths: [String]) -> Set<String> {
        Set(paths.flatMap { events($0).map(\.id) })
    }

    /// Drops repeated ids (keeping the first), checking that repeats are byte-identical.
    static func deduplicated(_ events: [CloudEvent]) -> (unique: [CloudEvent], repeats: Int, mismatched: [String]) {
        var seen: [String: String] = [:]
        var unique: [CloudEvent] = []
        var repeats = 0
        var mismatched: [String] = []
        for event in events {
            if let line = seen[event.id] {
                repeats += 1
                if line != event.line { mismatched.append(event.id) }
            } else {
                seen[event.id] = event.line
                unique.append(event)
            }
        }
        return (unique, repeats, mismatched)
    }
}

// MARK: - Callbacks

/// The answer to one callback POST.
struct CallbackReply: Sendable, CustomStringConvertible {
    var status: Int
    var body: String
    var contentType: String?
    var actionStatus: String?
    var errorCode: Int64?
    var errorInfo: String?
    var isJSONObject: Bool

    init(status: Int, body: String, contentType: String?) {
        self.status = status
        self.body = body
        self.contentType = contentType
        if let object = try? JSONLine.object(body) {
            isJSONObject = true
            actionStatus = object["ActionStatus"] as? String
            errorCode = JSONLine.int64(object["ErrorCode"])
            errorInfo = object["ErrorInfo"] as? String
        } else {
            isJSONObject = false
        }
    }

    /// 200 with `{"ActionStatus":"OK","ErrorCode":0,...}`.
    var isOK: Bool { status == 200 && actionStatus == "OK" && errorCode == 0 }

    /// A refusal as the protocol wants it: JSON, ActionStatus FAIL, a non-zero ErrorCode.
    var isWellFormedRefusal: Bool {
        isJSONObject && actionStatus == "FAIL" && (errorCode ?? 0) != 0 && errorInfo != nil
    }

    var description: String { "HTTP \(status) \(body)" }
}

/// Posts callbacks to one service, signing them the way Tencent does.
struct CallbackClient: Sendable {
    let baseURL: String
    let sdkAppID: String
    let token: String?
    let client: HTTPClient
    var callbackPath = "/tencent/callback"

    /// Tencent's `Sign`: lowercase hex SHA-256 of token + RequestTime (no HMAC, no separator).
    static func sign(token: String, requestTime: String) -> String {
        let digest = SHA256.hash(data: Array((token + requestTime).utf8))
        return digest.map { byte in
            let hex = Array("0123456789abcdef")
            return String([hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
        }.joined()
    }

    /// The query a genuine callback carries: SdkAppid, CallbackCommand, and when a token is
    /// configured Sign and RequestTime (now, unless given).
    func signedQuery(command: String, requestTime: Int64? = nil) -> [(String, String)] {
        var query = [("SdkAppid", sdkAppID), ("CallbackCommand", command), ("contenttype", "json"),
                     ("ClientIP", "127.0.0.1"), ("OptPlatform", "RESTAPI")]
        if let token {
            let time = String(requestTime ?? nowSeconds())
            query += [("Sign", Self.sign(token: token, requestTime: time)), ("RequestTime", time)]
        }
        return query
    }

    static func encode(_ query: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return query.map { key, value in
            "\(key.addingPercentEncoding(withAllowedCharacters: allowed) ?? key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
    }

    /// POSTs `body` with exactly `query`.
    func post(query: [(String, String)], body: HTTPClientRequest.Body, timeout: Duration = .seconds(15)) async throws -> CallbackReply {
        var request = HTTPClientRequest(url: "\(baseURL)\(callbackPath)?\(Self.encode(query))")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = body
        let response = try await client.execute(request, timeout: .init(timeout))
        let collected = try await response.body.collect(upTo: 4 << 20)
        return CallbackReply(status: Int(response.status.code), body: String(buffer: collected),
                             contentType: response.headers.first(name: "Content-Type"))
    }

    func post(query: [(String, String)], body: [UInt8], timeout: Duration = .seconds(15)) async throws -> CallbackReply {
        try await post(query: query, body: .bytes(ByteBuffer(bytes: body)), timeout: timeout)
    }

    /// A correctly signed POST of `body` for `command`.
    func postSigned(command: String, body: [UInt8], timeout: Duration = .seconds(15)) async throws -> CallbackReply {
        try await post(query: signedQuery(command: command), body: body, timeout: timeout)
    }

    func subscribe(account: String = IntegrationDefaults.account, _ subscribers: [String], eventTime: Int64,
                   operatorAccount: String = "administrator", timeout: Duration = .seconds(15)) async throws -> CallbackReply {
        try await postSigned(command: IntegrationDefaults.addCommand,
                             body: CallbackBodies.subscribers(command: IntegrationDefaults.addCommand, account: account,
                                                              operatorAccount: operatorAccount, subscribers: subscribers, eventTime: eventTime),
                             timeout: timeout)
    }

    func unsubscribe(account: String = IntegrationDefaults.account, _ subscribers: [String], eventTime: Int64,
                     operatorAccount: String = "administrator", timeout: Duration = .seconds(15)) async throws -> CallbackReply {
        try await postSigned(command: IntegrationDefaults.deleteCommand,
                             body: CallbackBodies.subscribers(command: IntegrationDefaults.deleteCommand, account: account,
                                                              operatorAccount: operatorAccount, subscribers: subscribers, eventTime: eventTime),
                             timeout: timeout)
    }

    func destroyAccount(_ account: String = IntegrationDefaults.account, eventTime: Int64) async throws -> CallbackReply {
        try await postSigned(command: IntegrationDefaults.destroyedCommand,
                             body: CallbackBodies.accountDestroyed(account: account, eventTime: eventTime))
    }

    /// GET `path` on the service: (status, body).
    func get(_ path: String, timeout: Duration = .seconds(10)) async throws -> (status: Int, body: String) {
        let request = HTTPClientRequest(url: "\(baseURL)\(path)")
        let response = try await client.execute(request, timeout: .init(timeout))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body))
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// Callback bodies shaped like Tencent's samples.
enum CallbackBodies {
    static func json(_ object: [String: Any]) -> [UInt8] {
        // JSONSerialization escapes "/" but otherwise writes what Tencent would.
        [UInt8]((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    static func subscribers(command: String, account: String, operatorAccount: String?, subscribers: [String], eventTime: Int64) -> [UInt8] {
        var object: [String: Any] = [
            "CallbackCommand": command,
            "Official_Account": account,
            "SubscribeAccountList": subscribers.map { ["Subscriber_Account": $0] },
            "EventTime": NSNumber(value: eventTime),
        ]
        if let operatorAccount { object["Operator_Account"] = operatorAccount }
        return json(object)
    }

    static func accountDestroyed(account: String, eventTime: Int64) -> [UInt8] {
        json([
            "CallbackCommand": IntegrationDefaults.destroyedCommand,
            "Official_Account": account,
            "Owner_Account": "owner",
            "Name": "integration",
            "EventTime": NSNumber(value: eventTime),
        ])
    }
}

/// A small deterministic generator for the random-input test.
typealias SeededGenerator = SplitMix64

// MARK: - Load

/// What a set of looping clients saw.
final class LoadRecorder: Sendable {
    let acknowledged = Mutex<[String]>([])
    let attempts = Atomic<Int>(0)
    let refusals = Atomic<Int>(0)
    let connectionErrors = Atomic<Int>(0)
    let stopRequested = Atomic<Bool>(false)

    var acknowledgedSubscribers: [String] { acknowledged.withLock { $0 } }
    func stop() { stopRequested.store(true, ordering: .relaxed) }
}

enum CallbackLoad {
    /// `clients` concurrent loops, each posting signed AfterAddSubscriber callbacks for new, unique
    /// subscribers ("<prefix>c<client>-<n>") until `recorder.stop()`. Connection errors are counted
    /// and tolerated (the service may be killed under them).
    static func run(callbacks: CallbackClient, clients: Int, prefix: String, recorder: LoadRecorder,
                    account: String = IntegrationDefaults.account) async {
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    var n = 0
                    while !recorder.stopRequested.load(ordering: .relaxed) {
                        n += 1
                        let subscriber = "\(prefix)c\(client)-\(n)"
                        recorder.attempts.add(1, ordering: .relaxed)
                        do {
                            let reply = try await callbacks.subscribe(account: account, [subscriber],
                                                                      eventTime: IntegrationDefaults.baseEventTime + Int64(n),
                                                                      timeout: .seconds(10))
                            if reply.isOK {
                                recorder.acknowledged.withLock { $0.append(subscriber) }
                            } else {
                                recorder.refusals.add(1, ordering: .relaxed)
                            }
                        } catch {
                            recorder.connectionErrors.add(1, ordering: .relaxed)
                            try? await Task.sleep(for: .milliseconds(10))
                        }
                    }
                }
            }
        }
    }
}

/// [1, 2, ..., n] (empty for n = 0).
func oneThrough(_ n: Int) -> [Int64] { Array(stride(from: Int64(1), through: Int64(n), by: 1)) }
