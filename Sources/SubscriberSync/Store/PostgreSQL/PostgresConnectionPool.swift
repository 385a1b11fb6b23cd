import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// The PostgreSQL connection pool (`PostgresClient`), started on first use and reconnecting by
/// itself: while the server restarts, operations fail (callbacks get 503), and they work again
/// once it is back, with no restart of the service.
///
/// The client's `run()` runs in a task this pool owns rather than as a member of the service
/// group, because one-shot commands (`export`, `reconcile`) and the tests use the store without a
/// group. In `serve`, `PostgresPoolService` (first in the group, so stopped last) closes it after
/// everything that writes has drained.
final class PostgresConnectionPool: Sendable {
    /// The sessions' `application_name` (with `/SCHEMA` for a store in a schema of its own).
    static let applicationName = "subscriber-sync"

    /// Short and ASCII, so that `subscriber-sync/SCHEMA` reaches `pg_stat_activity` unchanged
    /// (the server keeps 63 bytes of it and replaces other characters).
    private static func isPlainName(_ name: String) -> Bool {
        (1...40).contains(name.utf8.count)
            && name.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_") }
    }

    let location: PostgresLocation
    let maximumConnections: Int
    let logger: Logger
    private let state = Mutex<(client: PostgresClient, task: Task<Void, Never>, created: ContinuousClock.Instant)?>(nil)

    init(location: PostgresLocation, maximumConnections: Int, logger: Logger) {
        self.location = location
        self.maximumConnections = maximumConnections
        self.logger = logger
    }

    /// The running client.
    func client() throws -> PostgresClient {
        try state.withLock { state in
            if let state { return state.client }
            var configuration = PostgresClient.Configuration(
                host: location.host, port: location.port, username: location.user, password: location.password,
                database: location.database, tls: try Self.tls(for: location))
            configuration.options.maximumConnections = maximumConnections
            configuration.options.connectTimeout = .seconds(5)
            // A connection that sat through a server restart is found dead by this probe rather
            // than by a callback.
            configuration.options.keepAliveBehavior = .init(frequency: .seconds(5))
            if let schema = location.schema, !Self.isPlainName(schema) {
                throw PostgresFailure("PostgreSQL: a store's schema name must be 1 to 40 lower-case ASCII letters, digits and underscores, not \(schema)")
            }
            configuration.options.additionalStartupParameters = Self.sessionParameters(for: location)
            let client = PostgresClient(configuration: configuration, backgroundLogger: Self.quiet(logger))
            // Detached: a task inherits task-locals, among them the graceful-shutdown signal of the
            // service whose code first touched the store (the HTTP server's, say), and the client
            // ends its run on that signal. Its life is this pool's, which `close()` ends.
            let task = Task.detached { await client.run() }
            state = (client, task, .now)
            return client
        }
    }

    /// Set on every session of this service. Every session commits durably, whatever the server's
    /// default. The rest bound how long a session whose process stalls (stopped, its host gone,
    /// its network cut) keeps what it holds: the emitter's state row, an open transaction that
    /// holds every replica's events back (`CompletedBoundary`). Without them PostgreSQL keeps such
    /// a session until TCP gives up, two hours by default, and every replica reports the emitter
    /// behind. No transaction of this service waits on anything but its own statements, so 5 s
    /// idle inside one means the process is stuck. (No `tcp_user_timeout`: it would also end an
    /// `export` whose reader pauses, since unread data then waits in a zero window.)
    static func sessionParameters(for location: PostgresLocation) -> [(String, String)] {
        [("synchronous_commit", "on"), ("application_name", location.sessionName),
         ("idle_in_transaction_session_timeout", "5s"),
         ("tcp_keepalives_idle", "5"), ("tcp_keepalives_interval", "2"), ("tcp_keepalives_count", "3")]
            + (location.schema.map { [("search_path", $0)] } ?? [])
    }

    /// After a failure that says the server was (or is) unreachable: starts over with a new client,
    /// unless the current one is younger than `minimumAge`. postgres-nio's pool retries a failing
    /// server with a backoff that grows to a minute, so after an outage of a few tens of seconds it
    /// would reconnect up to a minute after the server is back; a new client tries at once. The old
    /// one closes after `grace`, so that operations still running on it (on a healthy connection)
    /// finish rather than fail.
    func recycle(minimumAge: Duration = .seconds(2), grace: Duration = .seconds(30)) {
        let old = state.withLock { state -> Task<Void, Never>? in
            guard let current = state, current.created.duration(to: .now) >= minimumAge else { return nil }
            state = nil
            return current.task
        }
        guard let old else { return }
        Task {
            try? await Task.sleep(for: grace)
            old.cancel()
        }
    }

    /// Closes every connection; the next use starts a new client.
    func close() async {
        let running = state.withLock { state in
            defer { state = nil }
            return state
        }
        running?.task.cancel()
        await running?.task.value
    }

    /// libpq's `sslmode`: `prefer` and `require` do not verify the server (unless `require` is
    /// given a root certificate, which then verifies the chain, as libpq does); `verify-full`
    /// verifies the chain and the host name.
    static func tls(for location: PostgresLocation) throws -> PostgresClient.Configuration.TLS {
        guard let configuration = try tlsConfiguration(for: location) else { return .disable }
        return location.sslMode == .prefer ? .prefer(configuration) : .require(configuration)
    }

    /// The same settings for a single connection outside the pool (`checkSettings`).
    static func connectionTLS(for location: PostgresLocation) throws -> PostgresConnection.Configuration.TLS {
        guard let configuration = try tlsConfiguration(for: location) else { return .disable }
        let context = try NIOSSLContext(configuration: configuration)
        return location.sslMode == .prefer ? .prefer(context) : .require(context)
    }

    /// What `sslmode` and `sslrootcert` mean, as libpq reads them; nil for `disable`.
    private static func tlsConfiguration(for location: PostgresLocation) throws -> TLSConfiguration? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let rootCert = location.sslRootCert {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(rootCert))
            } catch {
                throw StorageLocation.Invalid("cannot read the database URL's sslrootcert \(rootCert): \(error)")
            }
        }
        switch location.sslMode {
        case .disable:
            return nil
        case .prefer:
            configuration.certificateVerification = .none
        case .require:
            configuration.certificateVerification = location.sslRootCert == nil ? .none : .noHostnameVerification
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
        }
        return configuration
    }

    /// One connection outside the pool, made with the pool's settings. A refusal that no waiting
    /// cures (a certificate TLS does not accept, a wrong password, a missing database) is thrown
    /// at once, in its own words: the pool would retry it for a minute and then only say that its
    /// circuit breaker tripped. A server that is unreachable, starting, stopping or out of
    /// connection slots is left to the pool, which waits for it.
    func checkSettings() async throws {
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: try Self.connectionTLS(for: location))
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = Self.sessionParameters(for: location)
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: Self.quiet(logger))
            try? await connection.close()
        } catch {
            let tls = (error as? PSQLError).map { Self.isTLSFailure($0.underlying) } ?? false
            let outOfSlots = PostgresFailure(error).sqlState?.hasPrefix("53") ?? false
            if !tls && (PostgresFailure.isUnreachable(error) || outOfSlots) { return }
            throw PostgresFailure(error)
        }
    }

    private static func isTLSFailure(_ error: (any Error)?) -> Bool {
        guard let error else { return false }
        return error is NIOSSLError || String(describing: type(of: error)).contains("SSL")
    }

    /// postgres-nio logs every failed connection attempt at error level; while the server restarts
    /// that is one line per attempt. The store reports the failures that matter itself.
    private static func quiet(_ logger: Logger) -> Logger {
        var logger = logger
        logger.logLevel = max(logger.logLevel, .critical)
        return logger
    }
}

extension PostgresLocation {
    /// The `application_name` of this store's sessions.
    var sessionName: String {
        schema.map { "\(PostgresConnectionPool.applicationName)/\($0)" } ?? PostgresConnectionPool.applicationName
    }

    /// Whose running transactions can hold this store's events back (`CompletedBoundary`): nil,
    /// every session of the database, when the database is the store's alone; the store's own
    /// sessions when it shares the database with others, each in a schema (the tests' stores).
    var ownSessions: String? {
        schema == nil ? nil : sessionName
    }
}
