import PostgresNIO

/// A PostgreSQL failure as the service reports it. postgres-nio's own description is
/// deliberately generic; this one carries the server's message (never the connection settings,
/// so never the password) or what happened to the connection.
public struct PostgresFailure: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The server's SQLSTATE, when the server answered.
    public let sqlState: String?

    init(_ description: String, sqlState: String? = nil) {
        self.description = description
        self.sqlState = sqlState
    }

    init(_ error: any Error) {
        if let known = error as? PostgresFailure {
            self = known
            return
        }
        if let transaction = error as? PostgresTransactionError,
           let cause = transaction.closureError ?? transaction.beginError ?? transaction.commitError {
            self.init(cause)
            return
        }
        if let exceeded = error as? Deadline.Exceeded {
            self.init("PostgreSQL: \(exceeded) (is the database server up and reachable?)")
            return
        }
        guard let error = error as? PSQLError else {
            self.init("PostgreSQL: \(error)")
            return
        }
        if let server = error.serverInfo {
            self.init("PostgreSQL: \(server[.message] ?? "error") (SQLSTATE \(server[.sqlState] ?? "?"))", sqlState: server[.sqlState])
            return
        }
        let what = switch error.code {
        case .connectionError: "cannot connect to the database server"
        case .serverClosedConnection, .uncleanShutdown: "the database server closed the connection"
        case .clientClosedConnection, .poolClosed: "the connection pool is closed"
        case .sslUnsupported: "the database server does not support TLS (sslmode=require or verify-full)"
        case .authMechanismRequiresPassword: "the database server wants a password: set PGPASSWORD or --database-password-file"
        default: "\(error.code)"
        }
        let underlying = error.underlying.map { ": \($0)" } ?? ""
        self.init("PostgreSQL: \(what)\(underlying)")
    }

    /// Deadlock or serialisation failure: the transaction may simply be run again.
    static func isConflict(_ error: any Error) -> Bool {
        guard let state = sqlState(of: error) else { return false }
        return state == "40P01" || state == "40001"
    }

    /// The server could not be reached or went away (or an operation waited too long for it).
    static func isUnreachable(_ error: any Error) -> Bool {
        if error is Deadline.Exceeded { return true }
        if let transaction = error as? PostgresTransactionError {
            return (transaction.closureError ?? transaction.beginError ?? transaction.commitError).map(isUnreachable) ?? false
        }
        if let psql = error as? PSQLError {
            if let state = psql.serverInfo?[.sqlState] { return state.hasPrefix("08") || state.hasPrefix("57") }
            return [.connectionError, .serverClosedConnection, .uncleanShutdown].contains(psql.code)
        }
        // The pool's own errors (its circuit breaker after failing to connect for a while).
        return String(describing: type(of: error)).contains("ConnectionPoolError")
    }

    /// The server refused a statement (the connection is fine): other changes may still commit.
    static func isStatementError(_ error: any Error) -> Bool {
        guard let state = sqlState(of: error) else { return false }
        // Class 08 (connection), 57 (operator intervention: shutdown) and 53 (resources) are not
        // about one change.
        return !["08", "57", "53"].contains(String(state.prefix(2)))
    }
}

extension PostgresFailure {
    /// The server's SQLSTATE of `error`, also inside a failed transaction.
    static func sqlState(of error: any Error) -> String? {
        if let failure = error as? PostgresFailure { return failure.sqlState }
        if let transaction = error as? PostgresTransactionError {
            return (transaction.closureError ?? transaction.beginError ?? transaction.commitError).flatMap(sqlState(of:))
        }
        return (error as? PSQLError)?.serverInfo?[.sqlState]
    }
}

/// A refusal of the store's own making (a newer schema, a bad setting).
struct PostgresStorageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
