import Logging
import PostgresNIO

/// Compares a complete listing (the pass's rows of `listing`) with the store and repairs the
/// difference, in batched transactions so that callbacks keep flowing in between. Every write
/// re-checks its condition on the row it writes, so a callback that landed during the scan, on
/// this replica or another, wins. Transactions stay short: the emitter numbers only rows of
/// transactions older than every running one, so a long one would hold emission back.
struct PostgresListingRepair {
    let rules: PostgresSubscriberRules
    let pool: PostgresConnectionPool
    let clock: any WallClock
    let logger: Logger

    /// Rows per bulk transaction (measured on SQLite, where the trade-off is the same: larger
    /// chunks amortise the commit, smaller ones keep callbacks and the emitter moving).
    static let bulkChunk = 50_000

    /// A chunk runs again while callbacks raced it (see `addListed`); each run needs another race
    /// during it, so a few suffice.
    static let maxRunsPerChunk = 5

    func applyFieldChanges(pass: ListingPass, batchSize: Int) async throws -> Int {
        var after = ""
        var total = 0
        while true {
            let (updated, last) = try await pool.client().withTransaction(logger: logger) { [rules, clock, after, logger] connection -> (Int, String?) in
                try await PostgresReconcileFence.check(pass.lease, on: connection, logger: logger)
                let rows = try await connection.query("""
                    SELECT l.subscriber, s.requested_at, s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time,
                           l.version, l.subscribe_time, l.msg_flag, l.custom_string, l.last_send_msg_time
                    FROM subscribers l JOIN listing s ON s.pass = \(pass.id) AND s.subscriber = l.subscriber
                    WHERE l.account = \(pass.account) AND l.subscribed AND l.subscriber > \(after) AND (
                        l.subscribe_time IS DISTINCT FROM s.subscribe_time OR l.msg_flag IS DISTINCT FROM s.msg_flag
                        OR l.custom_string IS DISTINCT FROM s.custom_string OR l.last_send_msg_time IS DISTINCT FROM s.last_send_msg_time)
                    ORDER BY l.subscriber LIMIT \(Int64(batchSize))
                    FOR UPDATE OF l
                    """, logger: logger).collect()
                let recordedAt = clock.nowMilliseconds()
                var updated = 0
                var last: String?
                for row in rows {
                    let (subscriber, requestedAt, listedTime, listedFlag, listedCustom, listedLast, version, knownTime, knownFlag, knownCustom, knownLast)
                        = try row.decode((String, Int64, Int64?, String?, String?, Int64?, Int64, Int64?, String?, String?, Int64?).self)
                    last = subscriber
                    // Changed after this page was requested: what the page says may be stale.
                    guard version <= requestedAt else { continue }
                    if try await rules.updateFields(
                        account: pass.account, subscriber: subscriber, version: requestedAt,
                        listed: SubscriberFields(subscribeTime: listedTime, msgFlag: listedFlag, customString: listedCustom, lastSendMsgTime: listedLast),
                        known: SubscriberFields(subscribeTime: knownTime, msgFlag: knownFlag, customString: knownCustom, lastSendMsgTime: knownLast),
                        recordedAt: recordedAt, on: connection) {
                        updated += 1
                    }
                }
                return (updated, last)
            }
            total += updated
            guard let last else { return total }
            after = last
        }
    }

    /// A listed entry is a fact "subscribed at the page's request time", applied with the rule of a
    /// callback's subscribe (`PostgresSubscribeRule`) to a chunk of the listing per transaction, in
    /// one statement: the chunk is read once with what the store knows of each entry, then the
    /// state of those it (re)subscribes, their events, and the version moves of those already
    /// subscribed. The chunk's sets are disjoint, and each write re-checks its rule on the row it
    /// writes, so a newer callback that commits meanwhile still wins. An older one that commits
    /// meanwhile makes its row miss both writes (it was chosen for one, and the re-check finds it in
    /// the other's state); the statement counts those, and runs again until none is left: with a
    /// fresh snapshot the row falls on the right side, and rows already applied match neither.
    func addListed(pass: ListingPass) async throws -> Int {
        let statement = """
            WITH chunk AS MATERIALIZED (
                SELECT s.subscriber, s.requested_at, s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time,
                       s.event_id, s.event_data,
                       c.subscribed IS NULL OR \(PostgresSubscribeRule.resubscribes(row: "c", version: "s.requested_at")) AS adds,
                       COALESCE(\(PostgresSubscribeRule.movesVersion(row: "c", version: "s.requested_at")), FALSE) AS moves
                FROM listing s LEFT JOIN subscribers c ON c.account = $2 AND c.subscriber = s.subscriber
                WHERE s.pass = $1 AND s.subscriber > $3 AND ($4::TEXT IS NULL OR s.subscriber <= $4::TEXT)
                  AND \(PostgresSubscribeRule.outlivesDestruction(account: "$2", version: "s.requested_at"))
            ),
            changed AS (
                INSERT INTO subscribers AS l (account, subscriber, subscribed, version, since, origin, operator,
                                              subscribe_time, msg_flag, custom_string, last_send_msg_time)
                SELECT $2, m.subscriber, TRUE, m.requested_at, m.requested_at, $5, NULL,
                       m.subscribe_time, m.msg_flag, m.custom_string, m.last_send_msg_time
                FROM chunk m WHERE m.adds
                ON CONFLICT (account, subscriber) DO UPDATE SET \(PostgresSubscribeRule.subscriptionColumns)
                WHERE \(PostgresSubscribeRule.resubscribes(row: "l", version: "excluded.version"))
                RETURNING l.subscriber
            ),
            moved AS (
                UPDATE subscribers l SET version = m.requested_at FROM chunk m
                WHERE m.moves AND l.account = $2 AND l.subscriber = m.subscriber
                  AND \(PostgresSubscribeRule.movesVersion(row: "l", version: "m.requested_at"))
                RETURNING 1
            ),
            emitted AS (
                INSERT INTO outbox (id, type, source, subject, time, recorded_time, data)
                SELECT m.event_id, $6, $7, m.subscriber, m.requested_at, $8, m.event_data
                FROM chunk m JOIN changed c ON c.subscriber = m.subscriber
                ORDER BY m.subscriber
                RETURNING 1
            )
            SELECT (SELECT COUNT(*) FROM emitted),
                   COUNT(*) FILTER (WHERE adds) - (SELECT COUNT(*) FROM changed) + COUNT(*) FILTER (WHERE moves) - (SELECT COUNT(*) FROM moved)
            FROM chunk
            """
        let source = rules.outbox.storedSource(account: pass.account)
        var after = ""
        var added = 0
        while true {
            let (count, upto) = try await pool.client().withTransaction(logger: logger) { [rules, clock, after, logger] connection -> (Int, String?) in
                try await PostgresReconcileFence.check(pass.lease, on: connection, logger: logger)
                try await rules.lockAndRemember(pass.account, seenAt: pass.startedAt, exclusive: false, on: connection)
                var upto: String?
                for try await subscriber in try await connection.query("""
                    SELECT subscriber FROM listing WHERE pass = \(pass.id) AND subscriber > \(after)
                    ORDER BY subscriber LIMIT 1 OFFSET \(Int64(Self.bulkChunk - 1))
                    """, logger: logger).decode(String.self) {
                    upto = subscriber
                }
                var binds = PostgresBindings()
                binds.append(pass.id)
                binds.append(pass.account)
                binds.append(after)
                binds.append(upto)
                binds.append(ChangeOrigin.reconcile.rawValue)
                binds.append(EventType.subscribed.rawValue)
                binds.append(source)
                binds.append(clock.nowMilliseconds())
                // The chunk (its rows carry their events) is read several times: kept in memory,
                // not in a temporary file.
                try await connection.query("SET LOCAL work_mem = '64MB'", logger: logger)
                var count = 0
                var missed: Int64 = 0
                var runs = 0
                repeat {
                    runs += 1
                    for try await (emitted, raced) in try await connection.query(PostgresQuery(unsafeSQL: statement, binds: binds), logger: logger)
                        .decode((Int64, Int64).self) {
                        count += Int(emitted)
                        missed = raced
                    }
                } while missed > 0 && runs < Self.maxRunsPerChunk
                return (count, upto)
            }
            added += count
            guard let upto else { return added }
            after = upto
        }
    }

    /// Records who is missing from this complete listing and returns those missing from two
    /// consecutive complete listings with an unchanged record (see `SQLiteListingRepair.markCandidates`).
    func markCandidates(pass: ListingPass) async throws -> RemovalCandidates {
        try await pool.client().withTransaction(logger: logger) { [logger] connection in
            try await PostgresReconcileFence.check(pass.lease, on: connection, logger: logger)
            var previousScan: Int64 = -1
            for try await scan in try await connection.query("""
                SELECT last_complete_scan FROM accounts WHERE account = \(pass.account)
                """, logger: logger).decode(Int64?.self) {
                previousScan = scan ?? -1
            }
            var count = 0
            var removable: [String] = []
            for try await (subscriber, misses) in try await connection.query("""
                WITH missing AS (
                    SELECT l.subscriber, l.version, c.misses, c.last_scan, c.version_seen
                    FROM subscribers l LEFT JOIN removal_candidates c ON c.account = l.account AND c.subscriber = l.subscriber
                    WHERE l.account = \(pass.account) AND l.subscribed AND l.version < \(pass.startedAt)
                      AND NOT EXISTS (SELECT 1 FROM listing s WHERE s.pass = \(pass.id) AND s.subscriber = l.subscriber)
                )
                INSERT INTO removal_candidates (account, subscriber, misses, last_scan, version_seen)
                SELECT \(pass.account), subscriber,
                       CASE WHEN last_scan = \(previousScan) AND version_seen = version THEN COALESCE(misses, 0) + 1 ELSE 1 END,
                       \(pass.id), version
                FROM missing
                ON CONFLICT (account, subscriber) DO UPDATE SET misses = excluded.misses, last_scan = excluded.last_scan,
                    version_seen = excluded.version_seen
                RETURNING subscriber, misses
                """, logger: logger).decode((String, Int32).self) {
                count += 1
                if misses >= 2 { removable.append(subscriber) }
            }
            // Listed again, or changed since: their count starts over.
            try await connection.query("""
                DELETE FROM removal_candidates WHERE account = \(pass.account) AND last_scan <> \(pass.id)
                """, logger: logger)
            return RemovalCandidates(count: count, removable: removable.sorted())
        }
    }

    /// Unsubscribes the removable at the scan's start; a record that changed since stays.
    func remove(_ subscribers: [String], pass: ListingPass, batchSize: Int) async throws -> Int {
        var removed = 0
        var start = 0
        while start < subscribers.count {
            let batch = Array(subscribers[start..<min(start + batchSize, subscribers.count)])
            start += batch.count
            removed += try await pool.client().withTransaction(logger: logger) { [rules, clock, logger] connection in
                try await PostgresReconcileFence.check(pass.lease, on: connection, logger: logger)
                try await rules.lockAndRemember(pass.account, seenAt: pass.startedAt, exclusive: false, on: connection)
                let recordedAt = clock.nowMilliseconds()
                var removed = 0
                for subscriber in batch
                where try await rules.unsubscribe(account: pass.account, subscriber: subscriber, version: pass.startedAt, origin: .reconcile,
                                                  operatorAccount: nil, dataWithoutFields: nil, recordedAt: recordedAt, on: connection) {
                    removed += 1
                    try await connection.query("""
                        DELETE FROM removal_candidates WHERE account = \(pass.account) AND subscriber = \(subscriber)
                        """, logger: logger)
                }
                return removed
            }
        }
        return removed
    }
}
