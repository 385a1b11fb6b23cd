/// The read API's queries, on the caller's thread, on the store's own read-only connections
/// (`SQLiteReaders`): each is one or two statements taking microseconds (a page of 1,000 a few
/// milliseconds), less than GRDB's pool, thread hops and BEGIN/COMMIT around them. Only the count
/// goes through GRDB's async read.
///
/// A statement runs in an implicit read transaction (a WAL snapshot) that lasts until it is
/// reset, and a later one sees at least what an earlier one saw: a page's account row stays
/// unreset while its rows are read, so both share one snapshot. The newest sequence is read in
/// the first statement: every change up to it is in the rows read with or after it, as
/// `SubscriberReads` promises, and later changes may be too. The newest outbox row is never
/// deleted and sequences are assigned by the one writer in its transaction, so `MAX(sequence)`
/// numbers the newest change.
extension SQLiteStorage {
    /// The statements' numbers in each reader's cache.
    private enum Query: Int {
        case accountState, page, lookup, subscriptions
    }

    private static let newestSequence = "(SELECT COALESCE(MAX(sequence), 0) FROM outbox)"

    /// Columns 0–1: the account's destruction and creation (when it is held); 2–9: the record;
    /// 10: the newest sequence.
    private static let selected = """
        SELECT a.destroyed_at, a.created_at,
               s.subscriber, s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time, s.since, s.origin, s.account,
               \(newestSequence)
        """

    public func subscriberPage(account: String, after: String?, limit: Int, row: (SubscriberColumns) -> Void) async throws -> MirrorPageEnd? {
        try reading { reader in
            let held = try reader.statement(Query.accountState.rawValue,
                                            "SELECT destroyed_at, created_at, \(Self.newestSequence) FROM accounts WHERE account = ?")
            try held.bind(1, account)
            guard try held.step(), Self.isLive(held, account: account) else { return nil }
            let sequence = held.int64(2)
            // The primary key's range, and nothing joined: a join or a subquery here doubled the cost of a page.
            let select = try reader.statement(Query.page.rawValue, """
                SELECT NULL, NULL, subscriber, subscribe_time, msg_flag, custom_string, last_send_msg_time, since, origin
                FROM subscribers WHERE account = ? AND subscriber > ? AND subscribed = 1 ORDER BY subscriber LIMIT ?
                """)
            try select.bind(1, account)
            try select.bind(2, after ?? "")
            try select.bind(3, Int64(limit) + 1)
            // The last row's buffer is gone once the look-ahead row is stepped to, so its ID is
            // kept as it is handed over.
            var count = 0
            var lastOfFullPage: String?
            while try select.step() {
                guard count < limit else { return MirrorPageEnd(sequence: sequence, last: lastOfFullPage, hasMore: true) }
                let columns = Self.columns(select)
                row(columns)
                count += 1
                if count == limit { lastOfFullPage = String(decoding: columns.subscriber, as: UTF8.self) }
            }
            return MirrorPageEnd(sequence: sequence)
        }
    }

    /// Off the caller's thread: counting a large account takes long enough to hold up others.
    public func subscriberCount(account: String) async throws -> Int {
        do {
            return try await database().read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM subscribers WHERE account = ? AND subscribed = 1", arguments: [account]) ?? 0
            }
        } catch {
            throw SQLiteFailure(error)
        }
    }

    public func subscription(account: String, subscriber: String) async throws -> SubscriptionLookup {
        try reading { reader in
            let select = try reader.statement(Query.lookup.rawValue, """
                \(Self.selected), a.account IS NOT NULL FROM (SELECT 1)
                LEFT JOIN accounts a ON a.account = ?1
                LEFT JOIN subscribers s ON s.account = ?1 AND s.subscriber = ?2 AND s.subscribed = 1
                """)
            try select.bind(1, account)
            try select.bind(2, subscriber)
            // `FROM (SELECT 1)` with left joins: always one row.
            guard try select.step() else { throw SQLiteFailure(message: "SQLite: the lookup returned no row") }
            let sequence = select.int64(10)
            let held = select.int64(11) == 1 && Self.isLive(select, account: account)
            return SubscriptionLookup(sequence: sequence, accountHeld: held, record: held ? Self.record(select, account: account) : nil)
        }
    }

    public func subscriptions(of subscriber: String) async throws -> SubscriptionList {
        try reading { reader in
            let select = try reader.statement(Query.subscriptions.rawValue, """
                \(Self.selected) FROM (SELECT 1)
                LEFT JOIN accounts a ON 0
                LEFT JOIN subscribers s ON s.subscriber = ?1 AND s.subscribed = 1
                ORDER BY s.account
                """)
            try select.bind(1, subscriber)
            var list = SubscriptionList(sequence: 0, records: [])
            while try select.step() {
                list.sequence = select.int64(10)
                if let account = select.optionalString(9), let record = Self.record(select, account: account) { list.records.append(record) }
            }
            return list
        }
    }

    private func reading<Result>(_ body: (SQLiteReader) throws -> Result) throws -> Result {
        do {
            // Opens (and, for serve, creates and migrates) the database first, as every use does.
            _ = try database()
            return try readers.read(body)
        } catch {
            throw SQLiteFailure(error)
        }
    }

    private static func isLive(_ row: borrowing BoundStatement, account: String) -> Bool {
        AccountRecord(account: account, destroyedAt: row.optionalInt64(0), createdAt: row.optionalInt64(1)).isLive
    }

    /// Columns 2–8 of `selected`; nil when the subscriber's side of a join is empty.
    private static func record(_ row: borrowing BoundStatement, account: String) -> SubscriberRecord? {
        guard !row.isNull(2) else { return nil }
        return columns(row).record(account: account)
    }

    /// Columns 2–8 of `selected`, valid until the next step.
    private static func columns(_ row: borrowing BoundStatement) -> SubscriberColumns {
        SubscriberColumns(
            subscriber: row.text(2), subscribeTime: row.optionalInt64(3), msgFlag: row.optionalText(4),
            customString: row.optionalText(5), lastSendMsgTime: row.optionalInt64(6), since: row.optionalInt64(7), origin: row.text(8))
    }
}
