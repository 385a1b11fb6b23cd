/// The last-writer-wins rule of a subscribe, stated once for PostgreSQL: the callback path applies
/// it to one row with bound parameters, the reconciler's bulk add to a whole listing chunk in one
/// statement, and both read these fragments. The rule is the one `SQLiteSubscribeRule` states for
/// SQLite; the conformance suite and the property test hold both to it.
enum PostgresSubscribeRule {
    /// True when the existing row `row` is (re)subscribed by a fact at `version`: it is
    /// unsubscribed at an older version (at an equal version the unsubscribe wins).
    static func resubscribes(row: String, version: String) -> String {
        "(NOT \(row).subscribed AND \(row).version < \(version))"
    }

    /// True when the existing row `row` is already subscribed and a fact at `version` is newer: the
    /// version moves, so that an older unsubscribe arriving later stays stale.
    static func movesVersion(row: String, version: String) -> String {
        "(\(row).subscribed AND \(row).version < \(version))"
    }

    /// True when a fact at `version` about `account` is newer than the account's destruction.
    static func outlivesDestruction(account: String, version: String) -> String {
        "(\(version) > COALESCE((SELECT destroyed_at FROM accounts WHERE account = \(account)), -1))"
    }

    /// The columns a (re)subscription writes: a new subscription starts with only what its fact
    /// says; an earlier subscription's fields belong to that subscription.
    static let subscriptionColumns = """
        subscribed = TRUE, version = excluded.version, since = excluded.since, origin = excluded.origin, operator = excluded.operator,
        subscribe_time = excluded.subscribe_time, msg_flag = excluded.msg_flag, custom_string = excluded.custom_string,
        last_send_msg_time = excluded.last_send_msg_time
        """

    /// Taken (shared) by every transaction that applies facts to `account`, and exclusively by the
    /// account's destruction: a destruction then sees every subscribe that committed before it,
    /// and every later subscribe sees the destruction. SQLite gets this from its single writer.
    static func sharedAccountLock(account: String) -> String {
        "pg_advisory_xact_lock_shared(hashtextextended(\(account), 0))"
    }

    static func exclusiveAccountLock(account: String) -> String {
        "pg_advisory_xact_lock(hashtextextended(\(account), 0))"
    }
}
