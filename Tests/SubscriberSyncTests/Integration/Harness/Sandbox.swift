// Every integration test runs inside `withSandbox`, which gives it its own temporary directory and
// SIGKILLs every process started through it when the test ends, whether it passed, failed or threw.

import Foundation
import Synchronization
import Testing

/// A temporary directory and the processes started in it; everything is torn down by `cleanup()`.
final class Sandbox: Sendable {
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

    /// A fresh number for naming a process's log files.
    func nextNumber() -> Int { counter.add(1, ordering: .relaxed).newValue }

    /// Starts `serve`; the process is killed at cleanup if still running.
    func startService(_ configuration: ServeConfiguration = ServeConfiguration(), name: String = "serve") async throws -> ServiceProcess {
        let service = try await ServiceProcess.start(configuration, in: directory, name: "\(name)-\(nextNumber())")
        services.withLock { $0.append(service) }
        return service
    }

    /// Runs `subscriber-sync export` on a database in this sandbox.
    func export(database: String = "store.sqlite", account: String? = nil) async throws -> ExportRun {
        try await ExportRun.run(databasePath: path(database), account: account, in: directory, name: "export-\(nextNumber())")
    }

    /// Kills every process still running and removes the directory (kept when
    /// SUBSCRIBER_SYNC_KEEP_TEST_DIRS is set, for debugging).
    func cleanup() async {
        let all = services.withLock { $0 }
        for service in all { await service.kill() }
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
        await sandbox.cleanup()
        return result
    } catch {
        Issue.record("service logs:\n\(sandbox.allStderr())")
        await sandbox.cleanup()
        throw error
    }
}
