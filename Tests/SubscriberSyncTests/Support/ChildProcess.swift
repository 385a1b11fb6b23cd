// The one way the tests start child processes: swift-subprocess, for short runs (`run`) and for
// long-running processes a test talks to and signals (`start`).
//
// Standard output goes straight to a file (the child writes it, byte for byte, as it would with a
// shell redirection: `serve --events stdout` is read from there). Standard error is streamed, kept
// in memory and mirrored to a file; its end of file, together with swift-subprocess's own
// termination monitor, is how the background task learns that the process ended.

import Foundation
import Subprocess
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended.
enum ProcessExit: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    /// swift-subprocess failed after the launch; the status is unknown.
    case lost(String)

    init(_ status: TerminationStatus) {
        switch status {
        case .exited(let code): self = .exited(code)
        case .signaled(let signal): self = .signaled(signal)
        }
    }

    var description: String {
        switch self {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        case .lost(let error): "lost track of it: \(error)"
        }
    }
}

/// A process started with swift-subprocess. Its `Execution` never leaves the `run` closure: signals
/// are handed to that closure through a stream and answered when sent.
final class ChildProcess: Sendable {
    /// What a finished short run left behind.
    struct Result: Sendable {
        var exit: ProcessExit
        var stdout: String
        var stderr: String

        /// The exit status, or -1 when the process was killed by a signal.
        var status: Int32 {
            if case .exited(let code) = exit { return code }
            return -1
        }
    }

    let name: String
    let stdoutPath: String
    let stderrPath: String
    let processIdentifier: Int32

    private let state: State
    private let signals: AsyncStream<SignalRequest>.Continuation
    private let finished: Task<ProcessExit?, Never>

    /// What the background task records and the test reads.
    private final class State: Sendable {
        let stderr = Mutex<[UInt8]>([])
        let exit = Mutex<ProcessExit?>(nil)
    }

    private struct SignalRequest: Sendable {
        var signal: Int32
        var delivered: CheckedContinuation<Bool, Never>
    }

    private init(name: String, stdoutPath: String, stderrPath: String, processIdentifier: Int32,
                 state: State, signals: AsyncStream<SignalRequest>.Continuation,
                 finished: Task<ProcessExit?, Never>) {
        self.name = name
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
        self.processIdentifier = processIdentifier
        self.state = state
        self.signals = signals
        self.finished = finished
    }

    // MARK: - Starting

    /// Starts `executable` (a path, or a name looked up on the environment's PATH) and returns once
    /// it is running. Its output goes to `<name>.stdout.log` and `<name>.stderr.log` in
    /// `logDirectory`. The process runs until it exits or `kill()`; a process still running when
    /// the test binary exits is not waited for, so callers (`Sandbox`) kill what they start.
    static func start(_ executable: String, _ arguments: [String], environment: [String: String],
                      workingDirectory: URL? = nil, logDirectory: URL, name: String) async throws -> ChildProcess {
        let stdoutPath = logDirectory.appendingPathComponent("\(name).stdout.log").path
        let stderrPath = logDirectory.appendingPathComponent("\(name).stderr.log").path
        let stdoutDescriptor = open(stdoutPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard stdoutDescriptor >= 0 else { throw IntegrationError("cannot create \(stdoutPath): errno \(errno)") }
        guard FileManager.default.createFile(atPath: stderrPath, contents: nil),
              let stderrFile = FileHandle(forWritingAtPath: stderrPath) else {
            close(stdoutDescriptor)
            throw IntegrationError("cannot create \(stderrPath)")
        }

        var configuration = Subprocess.Configuration(
            executable: executable.contains("/") ? .path(.init(executable)) : .name(executable),
            arguments: .init(arguments),
            environment: .custom(Dictionary(uniqueKeysWithValues: environment.compactMap { key, value in
                Subprocess.Environment.Key(rawValue: key).map { ($0, value) }
            }))
        )
        if let workingDirectory { configuration.workingDirectory = .init(workingDirectory.path) }

        let state = State()
        let (signalStream, signals) = AsyncStream<SignalRequest>.makeStream()
        let (launchStream, launch) = AsyncThrowingStream<Int32, any Error>.makeStream()

        let finished = Task<ProcessExit?, Never> {
            defer { try? stderrFile.close() }
            do {
                let outcome = try await Subprocess.run(
                    configuration,
                    input: .none,
                    output: .fileDescriptor(.init(rawValue: stdoutDescriptor), closeAfterSpawningProcess: true),
                    error: .sequence
                ) { execution in
                    launch.yield(execution.processIdentifier.value)
                    launch.finish()
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask {
                            // Ends at the child's end of file, or when swift-subprocess sees the
                            // child exit (a grandchild could hold the pipe open).
                            do {
                                for try await buffer in execution.standardError {
                                    let bytes = buffer.withUnsafeBytes { Array($0) }
                                    state.stderr.withLock { $0.append(contentsOf: bytes) }
                                    stderrFile.write(Data(bytes))
                                }
                            } catch {}
                        }
                        group.addTask {
                            for await request in signalStream {
                                let sent: Bool
                                do {
                                    try execution.send(signal: Subprocess.Signal(rawValue: request.signal))
                                    sent = true
                                } catch {
                                    sent = false
                                }
                                request.delivered.resume(returning: sent)
                            }
                        }
                        await group.next()
                        // Standard error is closed: the process is gone or going, so no more
                        // signals; a request still queued is answered by the loop above.
                        signals.finish()
                    }
                }
                let ended = ProcessExit(outcome.terminationStatus)
                state.exit.withLock { $0 = ended }
                return ended
            } catch {
                // Not launched (the stream then throws to `start`), or lost track of it.
                launch.finish(throwing: error)
                signals.finish()
                stderrFile.write(Data("\n[test harness] \(name): \(error)\n".utf8))
                let lost = ProcessExit.lost("\(error)")
                state.exit.withLock { $0 = lost }
                return lost
            }
        }

        var identifier: Int32?
        for try await pid in launchStream { identifier = pid }
        guard let identifier else { throw IntegrationError("\(name) did not start") }
        return ChildProcess(name: name, stdoutPath: stdoutPath, stderrPath: stderrPath, processIdentifier: identifier,
                            state: state, signals: signals, finished: finished)
    }

    /// Runs `executable` to its end (SIGKILL after `timeout`) and returns its exit and output.
    /// Without a `logDirectory`, the output files live in a temporary directory removed afterwards.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String],
                    workingDirectory: URL? = nil, logDirectory: URL? = nil, name: String? = nil,
                    timeout: Duration = .seconds(60)) async throws -> Result {
        let label = name ?? URL(fileURLWithPath: executable).lastPathComponent
        let directory = logDirectory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("subscriber-sync-child-\(UUID().uuidString.prefix(8))")
        if logDirectory == nil {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        defer { if logDirectory == nil { try? FileManager.default.removeItem(at: directory) } }

        let child = try await start(executable, arguments, environment: environment, workingDirectory: workingDirectory,
                                    logDirectory: directory, name: label)
        guard let exit = await child.waitForExit(timeout: timeout) else {
            await child.kill()
            throw IntegrationError("\(label) \(arguments.joined(separator: " ")) did not finish within \(timeout); stderr:\n\(child.stderrText())")
        }
        return Result(exit: exit, stdout: child.stdoutText(), stderr: child.stderrText())
    }

    // MARK: - Watching

    /// How it ended; nil while it runs.
    var exit: ProcessExit? { state.exit.withLock { $0 } }
    var isRunning: Bool { exit == nil }
    func exitDescription() -> String { exit.map(\.description) ?? "still running" }

    func stderrText() -> String { state.stderr.withLock { String(decoding: $0, as: UTF8.self) } }
    func stdoutText() -> String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }

    /// Waits (without blocking a thread) for the process to end; nil when it still runs at the deadline.
    func waitForExit(timeout: Duration) async -> ProcessExit? {
        _ = await waitUntil(timeout: timeout, interval: .milliseconds(10)) { !isRunning }
        return exit
    }

    // MARK: - Signals

    /// Sends `signal`; true once delivered, false when the process has already ended.
    @discardableResult
    func send(signal: Int32) async -> Bool {
        await withCheckedContinuation { continuation in
            let request = SignalRequest(signal: signal, delivered: continuation)
            if case .terminated = signals.yield(request) { continuation.resume(returning: false) }
        }
    }

    /// SIGKILL, then wait for the process to be reaped. Safe to call more than once.
    func kill() async {
        guard isRunning else { return }
        if await !send(signal: SIGKILL) {
            // The signal loop has ended (standard error closed) but the process is not reaped yet:
            // cancelling `run` makes swift-subprocess tear it down, which ends with SIGKILL.
            finished.cancel()
        }
        _ = await finished.value
    }
}
