import Logging
import PostgresNIO

/// The subscriber rules on PostgreSQL, inside the caller's transaction, so that state and outbox
/// never disagree. The conditions come from `PostgresSubscribeRule`; concurrent transactions (other
/// batches, other replicas) are settled by the row they both write: the upsert and the version
/// moves re-check their condition on the newest row version, and an unsubscribe locks the row
/// before it decides.
struct PostgresSubscriberRules: Sendable {
    let outbox: PostgresOutbox
    let logger: Logger

    func apply(_ prepared: PreparedChange, recordedAt: Int64, on connection: PostgresConnection) async throws -> ApplyResult {
        let result = try await applyChange(prepared, recordedAt: recordedAt, on: connection)
        try await PostgresForwardQueue.insert(prepared.forwards, on: connection, logger: logger)
        return result
    }

    private func applyChange(_ prepared: PreparedChange, recordedAt: Int64, on connection: PostgresConnection) async throws -> ApplyResult {
        switch prepared.change {
        case nil:
            return ApplyResult()
        case .subscribers(let facts):
            try await lockAndRemember(facts.account, seenAt: recordedAt, exclusive: false, on: connection)
            var result = ApplyResult()
            let data: [[UInt8]?] = prepared.dataWithoutFields.count == facts.subscribers.count
                ? prepared.dataWithoutFields : Array(repeating: nil, count: facts.subscribers.count)
            for (subscriber, data) in zip(facts.subscribers, data) {
                let changed = switch facts.kind {
                case .subscribed:
                    try await subscribe(account: facts.account, subscriber: subscriber, version: facts.version, origin: facts.origin,
                                        operatorAccount: facts.operatorAccount, renderedData: data, recordedAt: recordedAt, on: connection)
                case .unsubscribed:
                    try await unsubscribe(account: facts.account, subscriber: subscriber, version: facts.version, origin: facts.origin,
                                          operatorAccount: facts.operatorAccount, dataWithoutFields: data, recordedAt: recordedAt,
                                          on: connection)
                }
                if changed { result.changed += 1 } else { result.ignored += 1 }
            }
            return result
        case .accountDestroyed(let account, let time):
            return try await destroyAccount(account, at: time, recordedAt: recordedAt, on: connection)
        case .accountCreated(let account, let time):
            return try await createAccount(account, at: time, recordedAt: recordedAt, on: connection)
        }
    }

    /// A group commit's changes in one transaction. When no two of them are about the same
    /// subscriber (the common case under load: distinct callbacks), their order cannot matter, and
    /// the subscribes are applied with one statement for the batch instead of one per subscriber;
    /// otherwise, and for a destruction, one change after the other.
    func apply(batch changes: [PreparedChange], recordedAt: Int64, on connection: PostgresConnection) async throws -> [ApplyResult] {
        guard changes.count > 1, let subscribes = Self.independentSubscribes(changes) else {
            var results: [ApplyResult] = []
            for change in changes { results.append(try await apply(change, recordedAt: recordedAt, on: connection)) }
            return results
        }
        let accounts = Array(Set(subscribes.map(\.account))).sorted()
        if !accounts.isEmpty {
            var binds = PostgresBindings()
            binds.append(accounts)
            binds.append(recordedAt)
            try await connection.query(PostgresQuery(unsafeSQL: Self.lockAndRememberAll, binds: binds), logger: logger)
        }

        var results = Array(repeating: ApplyResult(), count: changes.count)
        if !subscribes.isEmpty {
            let changed = try await subscribeAll(subscribes, recordedAt: recordedAt, on: connection)
            var moves: [BatchSubscribe] = []
            for subscribe in subscribes {
                if changed.contains(subscribe.key) {
                    results[subscribe.change].changed += 1
                } else {
                    results[subscribe.change].ignored += 1
                    moves.append(subscribe)
                }
            }
            if !moves.isEmpty {
                var binds = PostgresBindings()
                binds.append(moves.map(\.account))
                binds.append(moves.map(\.subscriber))
                binds.append(moves.map(\.version))
                try await connection.query(PostgresQuery(unsafeSQL: Self.moveVersions, binds: binds), logger: logger)
            }
        }
        for (index, prepared) in changes.enumerated() {
            guard case .subscribers(let facts) = prepared.change, facts.kind == .unsubscribed else { continue }
            let data: [[UInt8]?] = prepared.dataWithoutFields.count == facts.subscribers.count
                ? prepared.dataWithoutFields : Array(repeating: nil, count: facts.subscribers.count)
            for (subscriber, data) in zip(facts.subscribers, data) {
                if try await unsubscribe(account: facts.account, subscriber: subscriber, version: facts.version, origin: facts.origin,
                                         operatorAccount: facts.operatorAccount, dataWithoutFields: data, recordedAt: recordedAt,
                                         on: connection) {
                    results[index].changed += 1
                } else {
                    results[index].ignored += 1
                }
            }
        }
        // Every job of the batch in one statement, in the batch's order.
        try await PostgresForwardQueue.insert(changes.flatMap(\.forwards), on: connection, logger: logger)
        return results
    }

    /// One subscriber of a subscribe in a batch.
    struct BatchSubscribe {
        var change: Int
        var account: String
        var subscriber: String
        var version: Int64
        var origin: String
        var operatorAccount: String?
        var data: String
        var key: String { account + "\u{0}" + subscriber }
    }

    /// The subscribes of `changes`, or nil when two changes touch one subscriber or one destroys an
    /// account.
    static func independentSubscribes(_ changes: [PreparedChange]) -> [BatchSubscribe]? {
        var keys = Set<String>()
        var subscribes: [BatchSubscribe] = []
        for (index, prepared) in changes.enumerated() {
            guard let change = prepared.change else { continue }
            guard case .subscribers(let facts) = change else { return nil }
            for (position, subscriber) in facts.subscribers.enumerated() {
                guard keys.insert(facts.account + "\u{0}" + subscriber).inserted else { return nil }
                guard facts.kind == .subscribed else { continue }
                let data = position < prepared.dataWithoutFields.count ? prepared.dataWithoutFields[position]
                    : ChangeEvent.subscriberData(account: facts.account, subscriber: subscriber, origin: facts.origin,
                                                 operatorAccount: facts.operatorAccount, fields: .unknown)
                subscribes.append(BatchSubscribe(change: index, account: facts.account, subscriber: subscriber, version: facts.version,
                                                 origin: facts.origin.rawValue, operatorAccount: facts.operatorAccount,
                                                 data: String(decoding: data, as: UTF8.self)))
            }
        }
        return subscribes
    }

    /// Every subscribe of the batch in one statement, by the same rule as `subscribeUpsert`, their
    /// events in the batch's order. Returns the keys that changed.
    private func subscribeAll(_ subscribes: [BatchSubscribe], recordedAt: Int64, on connection: PostgresConnection) async throws -> Set<String> {
        var binds = PostgresBindings()
        binds.append(subscribes.map(\.account))
        binds.append(subscribes.map(\.subscriber))
        binds.append(subscribes.map(\.version))
        binds.append(subscribes.map(\.origin))
        binds.append(subscribes.map { $0.operatorAccount ?? "" })
        binds.append(subscribes.map { _ in EventIDGenerator.shared.next() })
        binds.append(subscribes.map { outbox.storedSource(account: $0.account) })
        binds.append(subscribes.map(\.data))
        binds.append(EventType.subscribed.rawValue)
        binds.append(recordedAt)
        var changed = Set<String>()
        for try await (account, subscriber) in try await connection.query(PostgresQuery(unsafeSQL: Self.subscribeAllUpsert, binds: binds),
                                                                          logger: logger).decode((String, String).self) {
            changed.insert(account + "\u{0}" + subscriber)
        }
        return changed
    }

    private static let lockAndRememberAll = """
        WITH locked AS MATERIALIZED (
            SELECT a, \(PostgresSubscribeRule.sharedAccountLock(account: "a")) FROM unnest($1::TEXT[]) AS a
        )
        INSERT INTO accounts (account, first_seen) SELECT a, $2 FROM locked ORDER BY a ON CONFLICT (account) DO NOTHING
        """

    private static let subscribeAllUpsert = """
        WITH input AS (
            SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[])
                WITH ORDINALITY AS t(account, subscriber, version, origin, operator, event_id, source, data, ord)
        ),
        changed AS (
            INSERT INTO subscribers AS s (account, subscriber, subscribed, version, since, origin, operator)
            SELECT account, subscriber, TRUE, version, version, origin, NULLIF(operator, '') FROM input i
            WHERE \(PostgresSubscribeRule.outlivesDestruction(account: "i.account", version: "i.version"))
            ORDER BY ord
            ON CONFLICT (account, subscriber) DO UPDATE SET \(PostgresSubscribeRule.subscriptionColumns)
            WHERE \(PostgresSubscribeRule.resubscribes(row: "s", version: "excluded.version"))
            RETURNING s.account, s.subscriber
        ),
        events AS (
            INSERT INTO outbox (id, type, source, subject, time, recorded_time, data)
            SELECT i.event_id, $9, i.source, i.subscriber, i.version, $10, i.data
            FROM changed c JOIN input i ON i.account = c.account AND i.subscriber = c.subscriber
            ORDER BY i.ord
        )
        SELECT account, subscriber FROM changed
        """

    private static let moveVersions = """
        UPDATE subscribers s SET version = m.version
        FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[]) AS m(account, subscriber, version)
        WHERE s.account = m.account AND s.subscriber = m.subscriber
          AND \(PostgresSubscribeRule.movesVersion(row: "s", version: "m.version"))
          AND \(PostgresSubscribeRule.outlivesDestruction(account: "m.account", version: "m.version"))
        """

    /// Takes the account's lock for this transaction (see `PostgresSubscribeRule.sharedAccountLock`)
    /// and remembers an account first seen here, so that the reconciler covers it too.
    func lockAndRemember(_ account: String, seenAt: Int64, exclusive: Bool, on connection: PostgresConnection) async throws {
        let lock = exclusive ? PostgresSubscribeRule.exclusiveAccountLock(account: "$1") : PostgresSubscribeRule.sharedAccountLock(account: "$1")
        var binds = PostgresBindings()
        binds.append(account)
        binds.append(seenAt)
        try await connection.query(PostgresQuery(unsafeSQL: """
            WITH locked AS (SELECT \(lock))
            INSERT INTO accounts (account, first_seen) SELECT $1, $2 FROM locked ON CONFLICT (account) DO NOTHING
            """, binds: binds), logger: logger)
    }

    /// Applies "subscribed at `version`", in one statement when it changes the state: the upsert
    /// and its event. Returns whether the stored state changed.
    @discardableResult
    func subscribe(account: String, subscriber: String, version: Int64, origin: ChangeOrigin, operatorAccount: String?,
                   renderedData: [UInt8]?, recordedAt: Int64, on connection: PostgresConnection) async throws -> Bool {
        let event = renderedData.map { ChangeEvent(type: .subscribed, account: account, subject: subscriber, time: version, data: $0) }
            ?? .subscriber(.subscribed, account: account, subscriber: subscriber, time: version, origin: origin,
                           operatorAccount: operatorAccount, fields: .unknown)
        var binds = PostgresBindings()
        binds.append(account)
        binds.append(subscriber)
        binds.append(version)
        binds.append(origin.rawValue)
        binds.append(operatorAccount)
        binds.append(EventIDGenerator.shared.next())
        binds.append(EventType.subscribed.rawValue)
        binds.append(outbox.storedSource(account: account))
        binds.append(recordedAt)
        binds.append(String(decoding: event.data, as: UTF8.self))
        let changed = try await connection.query(PostgresQuery(unsafeSQL: Self.subscribeUpsert, binds: binds), logger: logger).collect()
        if !changed.isEmpty { return true }
        var move = PostgresBindings()
        move.append(account)
        move.append(subscriber)
        move.append(version)
        try await connection.query(PostgresQuery(unsafeSQL: Self.moveVersion, binds: move), logger: logger)
        return false
    }

    private static let subscribeUpsert = """
        WITH changed AS (
            INSERT INTO subscribers AS s (account, subscriber, subscribed, version, since, origin, operator)
            SELECT $1, $2, TRUE, $3, $3, $4, $5 WHERE \(PostgresSubscribeRule.outlivesDestruction(account: "$1", version: "$3::BIGINT"))
            ON CONFLICT (account, subscriber) DO UPDATE SET \(PostgresSubscribeRule.subscriptionColumns)
            WHERE \(PostgresSubscribeRule.resubscribes(row: "s", version: "excluded.version"))
            RETURNING 1
        )
        INSERT INTO outbox (id, type, source, subject, time, recorded_time, data)
        SELECT $6, $7, $8, $2, $3, $9, $10 FROM changed
        RETURNING 1
        """

    private static let moveVersion = """
        UPDATE subscribers s SET version = $3 WHERE account = $1 AND subscriber = $2
            AND \(PostgresSubscribeRule.movesVersion(row: "s", version: "$3::BIGINT"))
            AND \(PostgresSubscribeRule.outlivesDestruction(account: "$1", version: "$3::BIGINT"))
        """

    /// Applies "unsubscribed at `version`" (see `SQLiteSubscriberRules.unsubscribe`): a never-seen
    /// subscriber gets a tombstone but no event.
    @discardableResult
    func unsubscribe(account: String, subscriber: String, version: Int64, origin: ChangeOrigin, operatorAccount: String?,
                     dataWithoutFields: [UInt8]?, recordedAt: Int64, on connection: PostgresConnection) async throws -> Bool {
        while true {
            var current: (subscribed: Bool, version: Int64, fields: SubscriberFields)?
            for try await (subscribed, stored, subscribeTime, msgFlag, customString, lastSend) in try await connection.query("""
                SELECT subscribed, version, subscribe_time, msg_flag, custom_string, last_send_msg_time
                FROM subscribers WHERE account = \(account) AND subscriber = \(subscriber) FOR UPDATE
                """, logger: logger).decode((Bool, Int64, Int64?, String?, String?, Int64?).self) {
                current = (subscribed, stored, SubscriberFields(subscribeTime: subscribeTime, msgFlag: msgFlag, customString: customString,
                                                                lastSendMsgTime: lastSend))
            }
            guard let current else {
                let inserted = try await connection.query("""
                    INSERT INTO subscribers (account, subscriber, subscribed, version, since, origin, operator)
                    VALUES (\(account), \(subscriber), FALSE, \(version), NULL, \(origin.rawValue), \(operatorAccount))
                    ON CONFLICT (account, subscriber) DO NOTHING RETURNING 1
                    """, logger: logger).collect()
                // Someone else inserted the row meanwhile: decide again against it.
                if inserted.isEmpty { continue }
                return false
            }
            if current.subscribed {
                guard version >= current.version else { return false }
            } else {
                guard version > current.version else { return false }
                try await connection.query("""
                    UPDATE subscribers SET version = \(version) WHERE account = \(account) AND subscriber = \(subscriber)
                    """, logger: logger)
                return false
            }
            try await connection.query("""
                UPDATE subscribers SET subscribed = FALSE, version = \(version), origin = \(origin.rawValue), operator = \(operatorAccount)
                WHERE account = \(account) AND subscriber = \(subscriber)
                """, logger: logger)
            let event = current.fields == .unknown
                ? dataWithoutFields.map { ChangeEvent(type: .unsubscribed, account: account, subject: subscriber, time: version, data: $0) }
                : nil
            try await outbox.append(event ?? .subscriber(.unsubscribed, account: account, subscriber: subscriber, time: version, origin: origin,
                                                         operatorAccount: operatorAccount, fields: current.fields),
                                    recordedAt: recordedAt, on: connection, logger: logger)
            return true
        }
    }

    /// What a listing says about someone already subscribed (see `SQLiteSubscriberRules.updateFields`).
    @discardableResult
    func updateFields(account: String, subscriber: String, version: Int64, listed: SubscriberFields, known: SubscriberFields,
                      recordedAt: Int64, on connection: PostgresConnection) async throws -> Bool {
        let change = ListedFieldsChange(listed: listed, known: known)
        let (merged, previous, changed) = (change.merged, change.previous, change.changed)
        guard merged != known else { return false }
        try await connection.query("""
            UPDATE subscribers SET subscribe_time = \(merged.subscribeTime), msg_flag = \(merged.msgFlag), custom_string = \(merged.customString),
                last_send_msg_time = \(merged.lastSendMsgTime), version = GREATEST(version, \(changed ? version : Int64.min))
            WHERE account = \(account) AND subscriber = \(subscriber)
            """, logger: logger)
        if changed {
            try await outbox.append(.subscriber(.updated, account: account, subscriber: subscriber, time: version, origin: .reconcile,
                                                operatorAccount: nil, fields: merged, previous: previous),
                                    recordedAt: recordedAt, on: connection, logger: logger)
        }
        return changed
    }

    /// Records the newest creation (see `SQLiteSubscriberRules.createAccount`). The row lock orders
    /// it against a concurrent destruction or creation.
    private func createAccount(_ account: String, at time: Int64, recordedAt: Int64, on connection: PostgresConnection) async throws -> ApplyResult {
        try await lockAndRemember(account, seenAt: recordedAt, exclusive: false, on: connection)
        var found: AccountRecord?
        for try await (destroyedAt, createdAt) in try await connection.query("""
            SELECT destroyed_at, created_at FROM accounts WHERE account = \(account) FOR UPDATE
            """, logger: logger).decode((Int64?, Int64?).self) {
            found = AccountRecord(account: account, destroyedAt: destroyedAt, createdAt: createdAt)
        }
        guard let before = found else { return ApplyResult(ignored: 1) }
        let after = before.created(at: time)
        guard after != before else { return ApplyResult(ignored: 1) }
        try await connection.query("UPDATE accounts SET created_at = \(after.createdAt) WHERE account = \(account)", logger: logger)
        return ApplyResult(changed: 1, revived: !before.isLive && after.isLive)
    }

    /// Everyone subscribed at or before `time` leaves, and the account keeps a tombstone that voids
    /// every fact at or before `time`. The exclusive account lock waits for transactions applying
    /// facts to this account, so none of their subscribes is missed.
    private func destroyAccount(_ account: String, at time: Int64, recordedAt: Int64, on connection: PostgresConnection) async throws -> ApplyResult {
        try await lockAndRemember(account, seenAt: recordedAt, exclusive: true, on: connection)
        let tombstoned = try await connection.query("""
            UPDATE accounts SET destroyed_at = \(time) WHERE account = \(account) AND COALESCE(destroyed_at, -1) < \(time) RETURNING 1
            """, logger: logger).collect()
        guard !tombstoned.isEmpty else { return ApplyResult(ignored: 1) }
        var leaving: [String] = []
        for try await subscriber in try await connection.query("""
            SELECT subscriber FROM subscribers WHERE account = \(account) AND subscribed AND version <= \(time) ORDER BY subscriber
            """, logger: logger).decode(String.self) {
            leaving.append(subscriber)
        }
        var result = ApplyResult()
        for subscriber in leaving
        where try await unsubscribe(account: account, subscriber: subscriber, version: time, origin: .accountDestroyed, operatorAccount: nil,
                                    dataWithoutFields: nil, recordedAt: recordedAt, on: connection) {
            result.changed += 1
        }
        return result
    }
}
