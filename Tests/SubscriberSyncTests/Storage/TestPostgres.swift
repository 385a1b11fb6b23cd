import Foundation
import Logging
import PostgresNIO
@testable import SubscriberSync

/// The PostgreSQL server the tests run on: `SUBSCRIBER_SYNC_TEST_POSTGRES` (a URL without a
/// password, which comes from `PGPASSWORD`), by default the role `scripts/test-postgres` creates
/// on 127.0.0.1. Each test process gets a database of its own (databases of finished runs are
/// dropped), and each store an empty schema in it: creating a database copies a template and
/// syncs it, which dozens of parallel tests would pay for in I/O. Tests fail, never skip, when the
/// server is not there: run `scripts/test-postgres` (the README's test command does).
actor TestPostgres {
    static let shared = TestPostgres()
    static let logger = Logger(label: "test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Databases are named with this prefix and the process id.
    static let prefix = "ss_test_"

    let server: PostgresLocation
    private var database: Task<PostgresLocation, any Error>?
    private var counter = 0

    init() {
        let environment = ProcessInfo.processInfo.environment
        let url = environment["SUBSCRIBER_SYNC_TEST_POSTGRES"] ?? "postgres://subscriber_sync@127.0.0.1:5432/postgres?sslmode=disable"
        let password = environment["PGPASSWORD"] ?? "subscriber_sync"
        guard case .postgres(let location) = try? StorageLocation.parse(url, password: password) else {
            fatalError("SUBSCRIBER_SYNC_TEST_POSTGRES is not a postgres:// URL: \(url)")
        }
        server = location
    }

    /// A new, empty schema in this process's database.
    func createStore() async throws -> PostgresLocation {
        counter += 1
        let schema = "store_\(counter)"
        var location = try await processDatabase()
        try await Self.connect(to: location) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger: Self.logger)
        }
        location.schema = schema
        return location
    }

    /// A new, empty database (for tests that run service processes on it), made with `options`
    /// of `CREATE DATABASE` (a locale, say).
    func createDatabase(options: String = "") async throws -> PostgresLocation {
        counter += 1
        let name = "\(Self.prefix)\(getpid())_\(counter)"
        _ = try await processDatabase()
        try await Self.connect(to: server) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) \(options)"), logger: Self.logger)
        }
        var location = server
        location.database = name
        return location
    }

    private func processDatabase() async throws -> PostgresLocation {
        if let database { return try await database.value }
        let server = self.server
        let task = Task {
            let name = "\(Self.prefix)\(getpid())"
            try await Self.connect(to: server) { connection in
                try await Self.dropStale(on: connection)
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: Self.logger)
            }
            var location = server
            location.database = name
            return location
        }
        database = task
        return try await task.value
    }

    /// A connection to `location`, for the duration of `body`.
    /// A session of the test's own; `parameters` (by default only the store's schema) are set at
    /// connect, as the service sets its own (`PostgresConnectionPool.sessionParameters`).
    static func connect<Result: Sendable>(to location: PostgresLocation, parameters: [(String, String)]? = nil,
                                          _ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password, database: location.database,
            tls: .disable)
        configuration.options.additionalStartupParameters = parameters ?? location.schema.map { [("search_path", $0)] } ?? []
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: Self.logger)
        } catch {
            throw TestPostgresUnavailable(server: location, error: error)
        }
        do {
            let result = try await body(connection)
            // The server may have ended the session already (a test of its timeouts).
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw PostgresFailure(error)
        }
    }

    /// Databases of test processes that are gone (and of an earlier process with this pid).
    private static func dropStale(on connection: PostgresConnection) async throws {
        var stale: [String] = []
        for try await name in try await connection.query("""
            SELECT datname FROM pg_database WHERE datname LIKE 'ss\\_test\\_%'
            """, logger: Self.logger).decode(String.self) {
            let pid = name.dropFirst(Self.prefix.count).split(separator: "_").first.flatMap { Int32($0) } ?? 0
            if pid == getpid() || kill(pid, 0) != 0 { stale.append(name) }
        }
        for name in stale {
            try? await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: Self.logger)
        }
    }
}

struct TestPostgresUnavailable: Error, CustomStringConvertible {
    let server: PostgresLocation
    let error: any Error
    var description: String {
        "the test PostgreSQL server \(server) is not reachable (\(PostgresFailure(error))); run scripts/test-postgres, or set SUBSCRIBER_SYNC_TEST_POSTGRES and PGPASSWORD"
    }
}
