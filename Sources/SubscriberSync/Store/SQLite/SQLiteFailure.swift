import GRDB

/// A SQLite failure as the service reports it: SQLite's own message ("database or disk is full"),
/// without the statement, which says nothing to an operator and makes every log line long.
public struct SQLiteFailure: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(message: String) {
        description = message
    }

    init(_ error: any Error) {
        if let known = error as? SQLiteFailure {
            self = known
        } else if let database = error as? DatabaseError {
            description = "SQLite: \(database.message ?? "error \(database.resultCode.rawValue)")"
        } else {
            description = "\(error)"
        }
    }
}
