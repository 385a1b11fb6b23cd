import Logging
import PostgresNIO

/// The read API's statements, prepared once per connection (postgres-nio prepares a named
/// statement on its first use on a connection). As unnamed statements each lookup was parsed and
/// planned again: planning the lookup's joins cost the server more than running them.
///
/// Each is one statement, so one snapshot covers the account's state, the rows and
/// `emitter_state.numbered` (see `PostgresSubscriberReads`). Columns: 0 the newest numbered
/// sequence, 1–2 the account's destruction and creation, 3–9 the subscriber's record, 10 the
/// account (lookups and subscriptions).
enum PostgresReadStatements {
    /// Runs `statement` on `connection`. A connection on which the server refused it is closed
    /// (the pool replaces it): postgres-nio remembers a failed preparation for the connection's
    /// life, and a migration that changes a selected column's type fails statements prepared
    /// before it ("cached plan must not change result type"), so either would fail every later
    /// read on that connection.
    static func execute<Statement: PostgresPreparedStatement>(
        _ statement: Statement, on connection: PostgresConnection, logger: Logger
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, Statement.Row> {
        do {
            return try await connection.execute(statement, logger: logger)
        } catch let error as PSQLError where error.serverInfo != nil {
            try? await connection.close()
            throw error
        }
    }

    /// A page of an account's subscribers after a key: the account's row and, laterally, up to
    /// `limit + 1` subscribers (the last one only tells that more follow).
    struct Page: PostgresPreparedStatement {
        static let name = "subscriber_sync_read_page"
        static let sql = """
            SELECT (SELECT numbered FROM emitter_state WHERE id = 1), a.destroyed_at, a.created_at,
                   s.subscriber, s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time, s.since, s.origin
            FROM accounts a
            LEFT JOIN LATERAL (
                SELECT subscriber, subscribe_time, msg_flag, custom_string, last_send_msg_time, since, origin FROM subscribers
                WHERE account = a.account AND subscriber > $2 AND subscribed ORDER BY subscriber LIMIT $3
            ) s ON TRUE
            WHERE a.account = $1
            """
        static let bindingDataTypes: [PostgresDataType] = [.text, .text, .int8]
        typealias Row = PostgresRow

        let account: String
        let after: String
        let rows: Int64

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings.texts(account, after)
            bindings.append(rows)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
    }

    /// One subscription: always one row, with NULLs for an account or subscriber not held.
    /// Lookups of (account, subscriber) pairs, one row each; column 11 is the pair's position
    /// (from 1) in the arrays.
    struct Lookups: PostgresPreparedStatement {
        static let name = "subscriber_sync_read_lookups"
        static let sql = """
            SELECT (SELECT numbered FROM emitter_state WHERE id = 1), a.destroyed_at, a.created_at,
                   s.subscriber, s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time, s.since, s.origin, a.account, q.i
            FROM unnest($1::TEXT[], $2::TEXT[]) WITH ORDINALITY AS q(account, subscriber, i)
            LEFT JOIN accounts a ON a.account = q.account
            LEFT JOIN subscribers s ON s.account = q.account AND s.subscriber = q.subscriber AND s.subscribed
            """
        static let bindingDataTypes: [PostgresDataType] = [.textArray, .textArray]
        typealias Row = (Int64, Int64?, Int64?, String?, Int64?, String?, String?, Int64?, Int64?, String?, String?, Int64)

        let accounts: [String]
        let subscribers: [String]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(accounts)
            bindings.append(subscribers)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Every account a subscriber is subscribed to, in account order; one row of NULLs when none.
    struct Subscriptions: PostgresPreparedStatement {
        static let name = "subscriber_sync_read_subscriptions"
        static let sql = """
            SELECT (SELECT numbered FROM emitter_state WHERE id = 1), NULL::BIGINT, NULL::BIGINT,
                   s.subscriber, s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time, s.since, s.origin, s.account
            FROM (SELECT 1) one
            LEFT JOIN subscribers s ON s.subscriber = $1 AND s.subscribed
            ORDER BY s.account
            """
        static let bindingDataTypes: [PostgresDataType] = [.text]
        typealias Row = PostgresSubscriberReads.Row

        let subscriber: String

        func makeBindings() throws -> PostgresBindings { .texts(subscriber) }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }
}

private extension PostgresBindings {
    static func texts(_ values: String...) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: values.count + 1)
        for value in values { bindings.append(value) }
        return bindings
    }
}
