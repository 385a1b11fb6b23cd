// Every integration test runs inside `withSandbox`, which gives it its own temporary directory and
// SIGKILLs every process started through it when the test ends, whether it passed, failed or threw.

import Foundation
import Synchronization
import Testing
@testable import SubscriberSync

/// A temporary directory and the processes started in it; everything is torn down by `cleanup()`.
final class Sandbox: Sendable {
    let directory: URL
    /// The engine the sandbox's services store in; on PostgreSQL, a database of their own.
    let engine: StorageEngine
    let postgres: PostgresLocation?
    private let services = Mutex<[ServiceProcess]>([])
    private let counter = Atomic<Int>(0)

    init(label: String, engine: StorageEngine = .sqlite) async throws {
        self.engine = engine
        postgres = engine == .postgres ? try await TestPostgres.shared.createDatabase() : nil
        let safe = String(label.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.prefix(40).map(Character.init))
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("subscriber-sync-it-\(safe)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// What `--database` names for the store `name`: a file in the sandbox, or on PostgreSQL the
    /// sandbox's database (one per sandbox, whatever the name), as a URL without its password.
    func database(_ name: String = "store.sqlite") -> String {
        guard let postgres else { return path(name) }
        return "postgres://\(postgres.user)@\(postgres.host):\(postgres.port)/\(postgres.database)?sslmode=disable"
    }

    /// The environment a process needs to open `database(_:)`.
    var databaseEnvironment: [String: String] {
        postgres?.password.map { ["PGPASSWORD": $0] } ?? [:]
    }

    /// A fresh number for naming a process's log files.
    func nextNumber() -> Int { counter.add(1, ordering: .relaxed).newValue }

    /// Starts `serve`; the process is killed at cleanup if still running.
    func startService(_ configuration: ServeConfiguration = ServeConfiguration(), name: String = "serve") async throws -> ServiceProcess {
        var configuration = configuration
        if postgres != nil {
            configuration.databaseURL = database(configuration.database)
            configuration.environment.merge(databaseEnvironment) { given, _ in given }
        }
        let service = try await ServiceProcess.start(configuration, in: directory, name: "\(name)-\(nextNumber())")
        services.withLock { $0.append(service) }
        return service
    }

    /// Runs `subscriber-sync export` on a database in this sandbox.
    func export(database: String = "store.sqlite", account: String? = nil) async throws -> ExportRun {
        try await ExportRun.run(databasePath: self.database(database), account: account, in: directory, name: "export-\(nextNumber())",
                                environment: databaseEnvironment)
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
func withSandbox<T>(_ label: String = #function, engine: StorageEngine = .sqlite, _ body: (Sandbox) async throws -> T) async throws -> T {
    let sandbox = try await Sandbox(label: label, engine: engine)
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
