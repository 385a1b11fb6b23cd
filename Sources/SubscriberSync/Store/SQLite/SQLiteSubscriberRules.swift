import GRDB

/// The subscriber rules on SQLite, inside the caller's write transaction, so that state and outbox
/// never disagree. The conditions come from `SQLiteSubscribeRule`.
struct SQLiteSubscriberRules: Sendable {
    let outbox: SQLiteOutbox

    func apply(_ prepared: PreparedChange, recordedAt: Int64, in db: Database) throws -> ApplyResult {
        let result: ApplyResult
        switch prepared.change {
        case .subscribers(let facts):
            result = try apply(facts, data: prepared.dataWithoutFields, recordedAt: recordedAt, in: db)
        case .accountDestroyed(let account, let time):
            result = try destroyAccount(account, at: time, recordedAt: recordedAt, in: db)
        case .accountCreated(let account, let time):
            result = try createAccount(account, at: time, recordedAt: recordedAt, in: db)
        case nil:
            result = ApplyResult()
        }
        try SQLiteForwardQueue.insert(prepared.forwards, in: db)
        return result
    }

    private func apply(_ facts: SubscriberFacts, data: [[UInt8]], recordedAt: Int64, in db: Database) throws -> ApplyResult {
        if let destroyedAt = try rememberAccount(facts.account, seenAt: recordedAt, in: db), facts.version <= destroyedAt {
            return ApplyResult(ignored: facts.subscribers.count)
        }
        var result = ApplyResult()
        let data: [[UInt8]?] = data.count == facts.subscribers.count ? data : Array(repeating: nil, count: facts.subscribers.count)
        for (subscriber, data) in zip(facts.subscribers, data) {
            let changed = switch facts.kind {
            case .subscribed:
                try subscribe(account: facts.account, subscriber: subscriber, version: facts.version, origin: facts.origin,
                              operatorAccount: facts.operatorAccount, renderedData: data, recordedAt: recordedAt, in: db)
            case .unsubscribed:
                try unsubscribe(account: facts.account, subscriber: subscriber, version: facts.version, origin: facts.origin,
                                operatorAccount: facts.operatorAccount, dataWithoutFields: data, recordedAt: recordedAt, in: db)
            }
            if changed { result.changed += 1 } else { result.ignored += 1 }
        }
        return result
    }

    /// Applies "subscribed at `version`". Returns whether the stored state changed (a version-only
    /// move for someone already subscribed does not count). `renderedData`, when given, is the
    /// event's `data` for exactly these arguments.
    @discardableResult
    func subscribe(account: String, subscriber: String, version: Int64, origin: ChangeOrigin, operatorAccount: String?,
                   fields: SubscriberFields = .unknown, renderedData: [UInt8]? = nil, recordedAt: Int64, in db: Database) throws -> Bool {
        let upsert = BoundStatement(try db.cachedStatement(sql: Self.subscribeUpsert))
        try upsert.bind(1, account)
        try upsert.bind(2, subscriber)
        try upsert.bind(3, version)
        try upsert.bind(4, origin.rawValue)
        try upsert.bind(5, operatorAccount)
        try upsert.bind(6, fields.subscribeTime)
        try upsert.bind(7, fields.msgFlag)
        try upsert.bind(8, fields.customString)
        try upsert.bind(9, fields.lastSendMsgTime)
        try upsert.execute()
        guard upsert.changes > 0 else {
            let move = BoundStatement(try db.cachedStatement(sql: Self.moveVersion))
            try move.bind(1, account)
            try move.bind(2, subscriber)
            try move.bind(3, version)
            try move.execute()
            return false
        }
        let event = renderedData.map { ChangeEvent(type: .subscribed, account: account, subject: subscriber, time: version, data: $0) }
            ?? .subscriber(.subscribed, account: account, subscriber: subscriber, time: version, origin: origin,
                           operatorAccount: operatorAccount, fields: fields)
        try outbox.append(event, recordedAt: recordedAt, in: db)
        return true
    }

    /// One statement decides the common cases: a subscriber never seen, or one who left before
    /// `version`, is (re)subscribed.
    private static let subscribeUpsert = """
        INSERT INTO subscribers (account, subscriber, subscribed, version, since, origin, operator,
                                 subscribe_time, msg_flag, custom_string, last_send_msg_time)
        VALUES (?1, ?2, 1, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
        ON CONFLICT (account, subscriber) DO UPDATE SET \(SQLiteSubscribeRule.subscriptionColumns)
        WHERE \(SQLiteSubscribeRule.resubscribes(row: "subscribers", version: "excluded.version"))
        """

    private static let moveVersion = """
        UPDATE subscribers SET version = ?3 WHERE account = ?1 AND subscriber = ?2
            AND \(SQLiteSubscribeRule.movesVersion(row: "subscribers", version: "?3"))
        """

    /// Applies "unsubscribed at `version`". A never-seen subscriber gets a tombstone (so that an
    /// older subscribe arriving later stays out) but no event: nobody downstream saw them subscribe.
    /// `dataWithoutFields`, when given, is the event's `data` for these arguments if the store
    /// knows none of the subscriber's fields.
    @discardableResult
    func unsubscribe(account: String, subscriber: String, version: Int64, origin: ChangeOrigin, operatorAccount: String?,
                     dataWithoutFields: [UInt8]? = nil, recordedAt: Int64, in db: Database) throws -> Bool {
        guard let current = try SQLiteSubscriberRow.fetch(account: account, subscriber: subscriber, in: db) else {
            let insert = BoundStatement(try db.cachedStatement(sql: """
                INSERT INTO subscribers (account, subscriber, subscribed, version, since, origin, operator)
                VALUES (?, ?, 0, ?, NULL, ?, ?)
                """))
            try insert.bind(1, account)
            try insert.bind(2, subscriber)
            try insert.bind(3, version)
            try insert.bind(4, origin.rawValue)
            try insert.bind(5, operatorAccount)
            try insert.execute()
            return false
        }
        if current.subscribed {
            guard version >= current.version else { return false }
        } else {
            guard version > current.version else { return false }
            let update = BoundStatement(try db.cachedStatement(sql: "UPDATE subscribers SET version = ? WHERE account = ? AND subscriber = ?"))
            try update.bind(1, version)
            try update.bind(2, account)
            try update.bind(3, subscriber)
            try update.execute()
            return false
        }
        let update = BoundStatement(try db.cachedStatement(sql: """
            UPDATE subscribers SET subscribed = 0, version = ?, origin = ?, operator = ? WHERE account = ? AND subscriber = ?
            """))
        try update.bind(1, version)
        try update.bind(2, origin.rawValue)
        try update.bind(3, operatorAccount)
        try update.bind(4, account)
        try update.bind(5, subscriber)
        try update.execute()
        let event = current.fields == .unknown
            ? dataWithoutFields.map { ChangeEvent(type: .unsubscribed, account: account, subject: subscriber, time: version, data: $0) }
            : nil
        try outbox.append(event ?? .subscriber(.unsubscribed, account: account, subscriber: subscriber, time: version, origin: origin,
                                               operatorAccount: operatorAccount, fields: current.fields),
                          recordedAt: recordedAt, in: db)
        return true
    }

    /// What a listing says about someone already subscribed. A value that differs from one the
    /// store already knew is a `subscriber.updated` event with the previous values; values learned
    /// for the first time (and `LastSendMsgTime`, which moves with every message) are stored
    /// silently. Returns whether an event was recorded.
    @discardableResult
    func updateFields(account: String, subscriber: String, version: Int64, listed: SubscriberFields,
                      known: SubscriberFields, recordedAt: Int64, in db: Database) throws -> Bool {
        let change = ListedFieldsChange(listed: listed, known: known)
        let (merged, previous, changed) = (change.merged, change.previous, change.changed)
        guard merged != known else { return false }
        try db.cachedStatement(sql: """
            UPDATE subscribers SET subscribe_time = ?, msg_flag = ?, custom_string = ?, last_send_msg_time = ?,
                version = MAX(version, ?) WHERE account = ? AND subscriber = ?
            """).execute(arguments: [merged.subscribeTime, merged.msgFlag, merged.customString, merged.lastSendMsgTime,
                                     changed ? version : Int64.min, account, subscriber])
        if changed {
            try outbox.append(.subscriber(.updated, account: account, subscriber: subscriber, time: version, origin: .reconcile,
                                          operatorAccount: nil, fields: merged, previous: previous),
                              recordedAt: recordedAt, in: db)
        }
        return changed
    }

    /// Everyone subscribed at or before `time` leaves, and the account keeps a tombstone that voids
    /// every fact at or before `time`.
    private func destroyAccount(_ account: String, at time: Int64, recordedAt: Int64, in db: Database) throws -> ApplyResult {
        if let destroyedAt = try rememberAccount(account, seenAt: recordedAt, in: db), time <= destroyedAt {
            return ApplyResult(ignored: 1)
        }
        try db.execute(sql: "UPDATE accounts SET destroyed_at = ? WHERE account = ?", arguments: [time, account])
        let leaving = try String.fetchAll(db, sql: """
            SELECT subscriber FROM subscribers WHERE account = ? AND subscribed = 1 AND version <= ?
            """, arguments: [account, time])
        var result = ApplyResult()
        for subscriber in leaving
        where try unsubscribe(account: account, subscriber: subscriber, version: time, origin: .accountDestroyed,
                              operatorAccount: nil, recordedAt: recordedAt, in: db) {
            result.changed += 1
        }
        return result
    }

    /// Records the newest creation; subscribers are untouched (the destruction already unsubscribed
    /// everyone it covered, and its tombstone keeps voiding older facts).
    private func createAccount(_ account: String, at time: Int64, recordedAt: Int64, in db: Database) throws -> ApplyResult {
        try rememberAccount(account, seenAt: recordedAt, in: db)
        guard let row = try Row.fetchOne(db, sql: "SELECT destroyed_at, created_at FROM accounts WHERE account = ?", arguments: [account]) else {
            return ApplyResult(ignored: 1)
        }
        let before = AccountRecord(account: account, destroyedAt: row[0], createdAt: row[1])
        let after = before.created(at: time)
        guard after != before else { return ApplyResult(ignored: 1) }
        try db.execute(sql: "UPDATE accounts SET created_at = ? WHERE account = ?", arguments: [after.createdAt, account])
        return ApplyResult(changed: 1, revived: !before.isLive && after.isLive)
    }

    /// Accounts first seen in a callback are remembered, so that the reconciler covers them too.
    /// Returns the account's destruction tombstone, if any. One lookup in the common case (the
    /// account is known), as this runs for every callback.
    @discardableResult
    func rememberAccount(_ account: String, seenAt: Int64, in db: Database) throws -> Int64? {
        let lookup = BoundStatement(try db.cachedStatement(sql: "SELECT COALESCE(destroyed_at, -1) FROM accounts WHERE account = ?"))
        try lookup.bind(1, account)
        guard try lookup.step() else {
            let insert = BoundStatement(try db.cachedStatement(sql: "INSERT INTO accounts (account, first_seen) VALUES (?, ?)"))
            try insert.bind(1, account)
            try insert.bind(2, seenAt)
            try insert.execute()
            return nil
        }
        let known = lookup.int64(0)
        return known == -1 ? nil : known
    }
}

/// The columns of `subscribers` the rules need.
struct SQLiteSubscriberRow {
    var subscribed: Bool
    var version: Int64
    var fields: SubscriberFields

    static func fetch(account: String, subscriber: String, in db: Database) throws -> SQLiteSubscriberRow? {
        let statement = BoundStatement(try db.cachedStatement(sql: """
            SELECT subscribed, version, subscribe_time, msg_flag, custom_string, last_send_msg_time
            FROM subscribers WHERE account = ? AND subscriber = ?
            """))
        try statement.bind(1, account)
        try statement.bind(2, subscriber)
        guard try statement.step() else { return nil }
        return SQLiteSubscriberRow(
            subscribed: statement.int64(0) != 0, version: statement.int64(1),
            fields: SubscriberFields(subscribeTime: statement.optionalInt64(2), msgFlag: statement.optionalString(3),
                                     customString: statement.optionalString(4), lastSendMsgTime: statement.optionalInt64(5))
        )
    }
}
