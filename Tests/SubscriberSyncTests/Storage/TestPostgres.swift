import Foundation
import Logging
import PostgresNIO
@testable import SubscriberSync

/// The PostgreSQL server the tests run on: `SUBSCRIBER_SYNC_TEST_POSTGRES` (a URL without a
/// password, which comes from `PGPASSWORD`), by default the role `scripts/test-postgres` creates
/// on 127.0.0.1. Every store gets a database of its own, created empty; databases of earlier
/// runs are dropped when a run first needs one. Tests fail, never skip, when the server is not
/// there: run `scripts/test-postgres` (the README's test command does).
actor TestPostgres {
    static let shared = TestPostgres()
    static let logger = Logger(label: "test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Databases are named with this prefix and the process id.
    static let prefix = "ss_test_"

    let server: PostgresLocation
    private var cleaned = false
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

    /// A new, empty database on the test server.
    func createDatabase() async throws -> PostgresLocation {
        counter += 1
        let name = "\(Self.prefix)\(getpid())_\(counter)_\(UInt32.random(in: 0...UInt32.max))"
        try await admin { connection in
            if !cleaned {
                cleaned = true
                try await dropStale(on: connection)
            }
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: Self.logger)
        }
        var location = server
        location.database = name
        return location
    }

    /// A connection to the server's maintenance database, for the duration of `body`.
    func admin<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        let configuration = PostgresConnection.Configuration(
            host: server.host, port: server.port, username: server.user, password: server.password, database: server.database,
            tls: .disable)
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: Self.logger)
        } catch {
            throw TestPostgresUnavailable(server: server, error: error)
        }
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Databases of test processes that are gone.
    private func dropStale(on connection: PostgresConnection) async throws {
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
