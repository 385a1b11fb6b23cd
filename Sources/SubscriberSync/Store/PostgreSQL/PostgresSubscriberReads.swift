import Logging
import PostgresNIO

/// The read API's queries on PostgreSQL (their SQL is `PostgresReadStatements`). Each is one
/// statement, so one snapshot covers the account's state, the rows and `emitter_state.numbered`:
/// the emitter numbers only rows of transactions that committed before it read them, so every
/// change numbered at or below it is visible in that snapshot. Changes committed but not numbered
/// yet may be visible too, as the `SubscriberReads` contract allows.
enum PostgresSubscriberReads {
    typealias Row = (Int64, Int64?, Int64?, String?, Int64?, String?, String?, Int64?, Int64?, String?, String?)

    /// A page's rows as the server sent them, rendered by `columns(_:_:)` once the connection is
    /// back in the pool.
    struct PageRows: Sendable {
        var sequence: Int64
        var rows: [PostgresRow] = []
        var hasMore = false
    }

    static func page(account: String, after: String?, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> PageRows? {
        let rows = try await PostgresReadStatements.execute(
            PostgresReadStatements.Page(account: account, after: after ?? "", rows: Int64(limit) + 1), on: connection, logger: logger)
        var page: PageRows?
        for try await row in rows {
            if page == nil {
                var cells = row.makeIterator()
                let sequence = try int64(cells.next())
                guard AccountRecord(account: account, destroyedAt: try int64(cells.next()), createdAt: try int64(cells.next())).isLive else { return nil }
                page = PageRows(sequence: sequence ?? 0)
            }
            guard row.count > 3, row[row.index(row.startIndex, offsetBy: 3)].bytes != nil else { continue }
            if page!.rows.count == limit {
                page!.hasMore = true
            } else {
                page!.rows.append(row)
            }
        }
        return page
    }

    /// Columns 3–9 of a `page` row as `SubscriberColumns`, straight from the row's buffers
    /// (binary format: text is its UTF-8, BIGINT eight bytes): decoding each row into Swift
    /// values first was most of a page's time.
    static func columns(_ row: PostgresRow, _ body: (SubscriberColumns) -> Void) throws {
        var cells = row.makeIterator()
        for _ in 0..<3 { _ = cells.next() }
        guard let subscriber = cells.next(), let subscribeTime = cells.next(), let msgFlag = cells.next(), let customString = cells.next(),
              let lastSendMsgTime = cells.next(), let since = cells.next(), let origin = cells.next() else {
            throw PostgresDecodingError.Code.failure
        }
        let numbers = (try int64(subscribeTime), try int64(lastSendMsgTime), try int64(since))
        text(subscriber.bytes) { subscriber in
            text(origin.bytes) { origin in
                text(msgFlag.bytes) { msgFlag in
                    text(customString.bytes) { customString in
                        body(SubscriberColumns(
                            subscriber: subscriber ?? UnsafeRawBufferPointer(start: nil, count: 0), subscribeTime: numbers.0, msgFlag: msgFlag,
                            customString: customString, lastSendMsgTime: numbers.1, since: numbers.2,
                            origin: origin ?? UnsafeRawBufferPointer(start: nil, count: 0)))
                    }
                }
            }
        }
    }

    private static func text(_ bytes: ByteBuffer?, _ body: (UnsafeRawBufferPointer?) -> Void) {
        guard let bytes else { return body(nil) }
        bytes.withUnsafeReadableBytes { body($0) }
    }

    /// A BIGINT cell without the generic decoding path; anything else through it.
    private static func int64(_ cell: PostgresCell?) throws -> Int64? {
        guard let cell, var bytes = cell.bytes else { return nil }
        if cell.format == .binary, cell.dataType == .int8, let value = bytes.readInteger(as: Int64.self) { return value }
        return try cell.decode(Int64.self, context: .default)
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

    /// One answer per pair, in the pairs' order, all from one statement.
    static func lookups(_ pairs: [PostgresLookupBatches.Pair], on connection: PostgresConnection, logger: Logger) async throws -> [SubscriptionLookup] {
        let rows = try await PostgresReadStatements.execute(
            PostgresReadStatements.Lookups(accounts: pairs.map(\.account), subscribers: pairs.map(\.subscriber)), on: connection, logger: logger)
        var lookups = Array(repeating: SubscriptionLookup(sequence: 0, accountHeld: false, record: nil), count: pairs.count)
        var answered = Array(repeating: false, count: pairs.count)
        for try await row in rows {
            // One row per pair (left joins on primary keys); anything else must not become an answer.
            guard let index = Int(exactly: row.11 - 1), answered.indices.contains(index), !answered[index] else {
                throw PostgresDecodingError.Code.failure
            }
            answered[index] = true
            let account = pairs[index].account
            let held = row.10 != nil && AccountRecord(account: account, destroyedAt: row.1, createdAt: row.2).isLive
            let cells: Row = (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10)
            lookups[index] = SubscriptionLookup(sequence: row.0, accountHeld: held, record: held ? record(cells, account: account) : nil)
        }
        guard !answered.contains(false) else { throw PostgresDecodingError.Code.failure }
        return lookups
    }

    static func subscriptions(of subscriber: String, on connection: PostgresConnection, logger: Logger) async throws -> SubscriptionList {
        let rows = try await PostgresReadStatements.execute(PostgresReadStatements.Subscriptions(subscriber: subscriber), on: connection, logger: logger)
        var list = SubscriptionList(sequence: 0, records: [])
        for try await row in rows {
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
