/// The last-writer-wins rule of a subscribe, stated once for SQLite: the callback path applies it
/// to one row with bound parameters, the reconciler's bulk add to a whole listing chunk in one
/// statement, and both read these fragments.
///
/// A fact "subscribed at `version`" (re)subscribes a row that is absent, or unsubscribed at an
/// older version (at an equal version the unsubscribe wins, whatever the arrival order). For a row
/// already subscribed it only moves the version forward, so that an older unsubscribe arriving
/// later stays stale. An account's destruction tombstone voids every fact at or before it.
enum SQLiteSubscribeRule {
    /// True when the existing row `row` is (re)subscribed by a fact at `version`.
    static func resubscribes(row: String, version: String) -> String {
        "(\(row).subscribed = 0 AND \(row).version < \(version))"
    }

    /// True when the existing row `row` is already subscribed and a fact at `version` is newer.
    static func movesVersion(row: String, version: String) -> String {
        "(\(row).subscribed = 1 AND \(row).version < \(version))"
    }

    /// True when a fact at `version` about `account` is newer than the account's destruction.
    static func outlivesDestruction(account: String, version: String) -> String {
        "(\(version) > COALESCE((SELECT destroyed_at FROM accounts WHERE account = \(account)), -1))"
    }

    /// The columns a (re)subscription writes: a new subscription starts with only what its fact
    /// says; an earlier subscription's fields belong to that subscription.
    static let subscriptionColumns = """
        subscribed = 1, version = excluded.version, since = excluded.since, origin = excluded.origin, operator = excluded.operator,
        subscribe_time = excluded.subscribe_time, msg_flag = excluded.msg_flag, custom_string = excluded.custom_string,
        last_send_msg_time = excluded.last_send_msg_time
        """
}
