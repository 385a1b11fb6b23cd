import GRDB

/// The subscriber state and its rules. Every writer (callbacks now, the reconciler later) goes
/// through these functions inside a write transaction, so state and outbox never disagree.
///
/// Last writer wins per (account, subscriber) on the version, a millisecond time (`EventTime` for
/// callbacks). Tie-break for equal versions: an unsubscribe beats a subscribe, whatever the arrival
/// order. Two facts at the same millisecond cannot be ordered, and the safe reading of "subscribed
/// and unsubscribed at once" is "do not message this person"; it also makes the outcome independent
/// of the order in which Tencent delivers the two callbacks.
public struct SubscriberStore: Sendable {
    public let outbox: EventOutbox

    public init(outbox: EventOutbox) {
        self.outbox = outbox
    }

    /// How many subscriber-level facts changed state or were ignored as duplicate or stale.
    public struct ApplyResult: Sendable, Equatable {
        public var changed = 0
        public var ignored = 0
        public init(changed: Int = 0, ignored: Int = 0) {
            self.changed = changed
            self.ignored = ignored
        }
    }

    /// A callback with the `data` of its events rendered in advance, so that the single writer
    /// does not spend its time on JSON: for each subscriber of a subscribe or unsubscribe, the
    /// data of an event about a subscriber whose fields are unknown, which is what webhooks know.
    public struct PreparedCallback: Sendable {
        public let command: CallbackCommand
        let dataWithoutFields: [[UInt8]]
    }

    public func prepare(_ command: CallbackCommand) -> PreparedCallback {
        switch command {
        case .subscribersAdded(let callback), .subscribersDeleted(let callback):
            let data = callback.subscribers.map { subscriber in
                ChangeEvent.subscriberData(account: callback.account, subscriber: subscriber, origin: .webhook,
                                           operatorAccount: callback.operatorAccount, fields: .unknown)
            }
            return PreparedCallback(command: command, dataWithoutFields: data)
        case .accountDestroyed, .beforeAddSubscriber, .other:
            return PreparedCallback(command: command, dataWithoutFields: [])
        }
    }

    public func apply(_ command: CallbackCommand, recordedAt: Int64, in db: Database) throws -> ApplyResult {
        try apply(prepare(command), recordedAt: recordedAt, in: db)
    }

    public func apply(_ prepared: PreparedCallback, recordedAt: Int64, in db: Database) throws -> ApplyResult {
        switch prepared.command {
        case .subscribersAdded(let callback):
            return try apply(callback, subscribe: true, data: prepared.dataWithoutFields, recordedAt: recordedAt, in: db)
        case .subscribersDeleted(let callback):
            return try apply(callback, subscribe: false, data: prepared.dataWithoutFields, recordedAt: recordedAt, in: db)
        case .accountDestroyed(let account, let eventTime):
            return try destroyAccount(account, at: eventTime, recordedAt: recordedAt, in: db)
        case .beforeAddSubscriber, .other:
            return ApplyResult()
        }
    }

    private func apply(_ callback: SubscriberCallback, subscribe: Bool, data: [[UInt8]], recordedAt: Int64, in db: Database) throws -> ApplyResult {
        if let destroyedAt = try rememberAccount(callback.account, seenAt: recordedAt, in: db), callback.eventTime <= destroyedAt {
            return ApplyResult(ignored: callback.subscribers.count)
        }
        var result = ApplyResult()
        let data: [[UInt8]?] = data.count == callback.subscribers.count ? data : Array(repeating: nil, count: callback.subscribers.count)
        for (subscriber, data) in zip(callback.subscribers, data) {
            let changed = subscribe
                ? try self.subscribe(account: callback.account, subscriber: subscriber, version: callback.eventTime,
                                     origin: .webhook, operatorAccount: callback.operatorAccount, renderedData: data,
                                     recordedAt: recordedAt, in: db)
                : try unsubscribe(account: callback.account, subscriber: subscriber, version: callback.eventTime,
                                  origin: .webhook, operatorAccount: callback.operatorAccount, dataWithoutFields: data,
                                  recordedAt: recordedAt, in: db)
            if changed { result.changed += 1 } else { result.ignored += 1 }
        }
        return result
    }

    /// Applies "subscribed at `version`". Returns whether the stored state changed (a version-only
    /// move for someone already subscribed does not count). `renderedData`, when given, is the
    /// event's `data` for exactly these arguments.
    @discardableResult
    public func subscribe(account: String, subscriber: String, version: Int64, origin: ChangeOrigin,
                          operatorAccount: String?, fields: SubscriberFields = .unknown, renderedData: [UInt8]? = nil,
                          recordedAt: Int64, in db: Database) throws -> Bool {
        // One statement decides the common cases: a subscriber never seen, or one who left before
        // `version`, is (re)subscribed. A new subscription starts with only what this fact says; an
        // earlier subscription's fields (msgFlag, customString, …) belong to that subscription.
        let upsert = BoundStatement(try db.cachedStatement(sql: """
            INSERT INTO subscribers (account, subscriber, subscribed, version, since, origin, operator,
                                     subscribe_time, msg_flag, custom_string, last_send_msg_time)
            VALUES (?1, ?2, 1, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            ON CONFLICT (account, subscriber) DO UPDATE SET
                subscribed = 1, version = ?3, since = ?3, origin = ?4, operator = ?5,
                subscribe_time = ?6, msg_flag = ?7, custom_string = ?8, last_send_msg_time = ?9
            WHERE subscribers.subscribed = 0 AND subscribers.version < ?3
            """))
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
            // Already subscribed: a newer fact only moves the version. Otherwise it is stale.
            let move = BoundStatement(try db.cachedStatement(sql: """
                UPDATE subscribers SET version = ?3 WHERE account = ?1 AND subscriber = ?2 AND subscribed = 1 AND version < ?3
                """))
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

    /// Applies "unsubscribed at `version`". A never-seen subscriber gets a tombstone (so that an
    /// older subscribe arriving later stays out) but no event: nobody downstream saw them subscribe.
    /// `dataWithoutFields`, when given, is the event's `data` for these arguments if the store
    /// knows none of the subscriber's fields.
    @discardableResult
    public func unsubscribe(account: String, subscriber: String, version: Int64, origin: ChangeOrigin,
                            operatorAccount: String?, dataWithoutFields: [UInt8]? = nil, recordedAt: Int64, in db: Database) throws -> Bool {
        guard let current = try SubscriberRow.fetch(account: account, subscriber: subscriber, in: db) else {
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
            try Self.moveVersion(account: account, subscriber: subscriber, to: version, in: db)
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

    private static func moveVersion(account: String, subscriber: String, to version: Int64, in db: Database) throws {
        let update = BoundStatement(try db.cachedStatement(sql: "UPDATE subscribers SET version = ? WHERE account = ? AND subscriber = ?"))
        try update.bind(1, version)
        try update.bind(2, account)
        try update.bind(3, subscriber)
        try update.execute()
    }

    /// What a listing says about someone already subscribed. A value that differs from one the
    /// store already knew is a `subscriber.updated` event with the previous values; values learned
    /// for the first time (and `LastSendMsgTime`, which moves with every message) are stored
    /// silently. Returns whether an event was emitted.
    @discardableResult
    public func updateFields(account: String, subscriber: String, version: Int64, listed: SubscriberFields,
                             known: SubscriberFields, recordedAt: Int64, in db: Database) throws -> Bool {
        var previous = SubscriberFields()
        var changed = false
        if let old = known.subscribeTime, let new = listed.subscribeTime, old != new { previous.subscribeTime = old; changed = true }
        if let old = known.msgFlag, let new = listed.msgFlag, old != new { previous.msgFlag = old; changed = true }
        if let old = known.customString, let new = listed.customString, old != new { previous.customString = old; changed = true }
        let merged = SubscriberFields(
            subscribeTime: listed.subscribeTime ?? known.subscribeTime, msgFlag: listed.msgFlag ?? known.msgFlag,
            customString: listed.customString ?? known.customString, lastSendMsgTime: listed.lastSendMsgTime ?? known.lastSendMsgTime
        )
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

    /// `CallbackAfterOfficialAccountDestroyed`: everyone subscribed at or before `time` leaves,
    /// and the account keeps a tombstone that voids every callback at or before `time`.
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

    /// Accounts first seen in a callback are remembered, so that the reconciler covers them too.
    /// Returns the account's destruction tombstone, if any. One lookup in the common case (the
    /// account is known), as this runs for every callback.
    @discardableResult
    public func rememberAccount(_ account: String, seenAt: Int64, in db: Database) throws -> Int64? {
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

    /// Accounts with a destruction tombstone.
    public static func destroyedAccounts(in db: Database) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT account FROM accounts WHERE destroyed_at IS NOT NULL ORDER BY account")
    }
}

/// The columns of `subscribers` the rules need.
struct SubscriberRow {
    var subscribed: Bool
    var version: Int64
    var fields: SubscriberFields

    static func fetch(account: String, subscriber: String, in db: Database) throws -> SubscriberRow? {
        let statement = BoundStatement(try db.cachedStatement(sql: """
            SELECT subscribed, version, subscribe_time, msg_flag, custom_string, last_send_msg_time
            FROM subscribers WHERE account = ? AND subscriber = ?
            """))
        try statement.bind(1, account)
        try statement.bind(2, subscriber)
        guard try statement.step() else { return nil }
        return SubscriberRow(
            subscribed: statement.int64(0) != 0, version: statement.int64(1),
            fields: SubscriberFields(subscribeTime: statement.optionalInt64(2), msgFlag: statement.optionalString(3),
                                     customString: statement.optionalString(4), lastSendMsgTime: statement.optionalInt64(5))
        )
    }
}
