import Logging
import PostgresNIO

/// The read API's queries on PostgreSQL. Each is one statement, so one snapshot covers the
/// account's state, the rows and `emitter_state.numbered`: the emitter numbers only rows of
/// transactions that committed before it read them, so every change numbered at or below it is
/// visible in that snapshot. Changes committed but not numbered yet may be visible too, as the
/// `SubscriberReads` contract allows.
enum PostgresSubscriberReads {
    typealias Row = (Int64, Int64?, Int64?, String?, Int64?, String?, String?, Int64?, Int64?, String?, String?)

    static func page(account: String, after: String?, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> MirrorPage? {
        let rows = try await connection.query("""
            SELECT (SELECT numbered FROM emitter_state WHERE id = 1), a.destroyed_at, a.created_at,
                   s.subscriber, s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time, s.since, s.origin, a.account
            FROM accounts a
            LEFT JOIN LATERAL (
                SELECT subscriber, subscribe_time, msg_flag, custom_string, last_send_msg_time, since, origin FROM subscribers
                WHERE account = a.account AND subscriber > \(after ?? "") AND subscribed ORDER BY subscriber LIMIT \(limit + 1)
            ) s ON TRUE
            WHERE a.account = \(account)
            """, logger: logger)
        var page: MirrorPage?
        for try await row in rows.decode(Row.self) {
            guard AccountRecord(account: account, destroyedAt: row.1, createdAt: row.2).isLive else { return nil }
            if page == nil { page = MirrorPage(sequence: row.0, records: [], hasMore: false) }
            guard let record = record(row, account: account) else { continue }
            if page!.records.count == limit {
                page!.hasMore = true
            } else {
                page!.records.append(record)
            }
        }
        return page
    }

    static func count(account: String, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        var count = 0
        for try await value in try await connection.query("""
            SELECT COUNT(*) FROM subscribers WHERE account = \(account) AND subscribed
            """, logger: logger).decode(Int64.self) {
            count = Int(value)
        }
        return count
    }

    static func lookup(account: String, subscriber: String, on connection: PostgresConnection, logger: Logger) async throws -> SubscriptionLookup {
        let rows = try await connection.query("""
            SELECT (SELECT numbered FROM emitter_state WHERE id = 1), a.destroyed_at, a.created_at,
                   s.subscriber, s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time, s.since, s.origin, a.account
            FROM (SELECT 1) one
            LEFT JOIN accounts a ON a.account = \(account)
            LEFT JOIN subscribers s ON s.account = \(account) AND s.subscriber = \(subscriber) AND s.subscribed
            """, logger: logger)
        var lookup = SubscriptionLookup(sequence: 0, accountHeld: false, record: nil)
        for try await row in rows.decode(Row.self) {
            lookup.sequence = row.0
            lookup.accountHeld = row.10 != nil && AccountRecord(account: account, destroyedAt: row.1, createdAt: row.2).isLive
            lookup.record = lookup.accountHeld ? record(row, account: account) : nil
        }
        return lookup
    }

    static func subscriptions(of subscriber: String, on connection: PostgresConnection, logger: Logger) async throws -> SubscriptionList {
        let rows = try await connection.query("""
            SELECT (SELECT numbered FROM emitter_state WHERE id = 1), NULL::BIGINT, NULL::BIGINT,
                   s.subscriber, s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time, s.since, s.origin, s.account
            FROM (SELECT 1) one
            LEFT JOIN subscribers s ON s.subscriber = \(subscriber) AND s.subscribed
            ORDER BY s.account
            """, logger: logger)
        var list = SubscriptionList(sequence: 0, records: [])
        for try await row in rows.decode(Row.self) {
            list.sequence = row.0
            if let account = row.10, let record = record(row, account: account) { list.records.append(record) }
        }
        return list
    }

    private static func record(_ row: Row, account: String) -> SubscriberRecord? {
        guard let subscriber = row.3 else { return nil }
        return SubscriberRecord(
            account: account, subscriber: subscriber,
            fields: SubscriberFields(subscribeTime: row.4, msgFlag: row.5, customString: row.6, lastSendMsgTime: row.7),
            since: row.8, origin: row.9 ?? "")
    }
}
