import GRDB

/// Compares a complete listing (the TEMP `listing` table) with the store and repairs the
/// difference, in batched transactions so that callbacks keep flowing in between. Every decision
/// is re-checked against the row inside the transaction that writes it, so a callback that landed
/// during the scan wins.
struct SQLiteListingRepair {
    let rules: SQLiteSubscriberRules
    let database: any DatabaseWriter
    let clock: any WallClock
    /// Checked by every transaction below before it writes (`ListingPass.lease`).
    let lease: ReconcileLeaseGrant?

    /// Rows per bulk transaction. Each commit costs far more than its rows (measured: 20,000-row
    /// chunks took 7 s for a million adds, 200,000-row chunks 2.7 s), but a callback waits for the
    /// whole transaction: 200,000 rows hold the write lock for about half a second, inside
    /// Tencent's 2 s callback timeout.
    static let bulkChunk = 200_000

    /// Locally subscribed and listed with different fields → updated (or stored silently).
    /// Driven by the account's subscribers, so a first sync into an empty store costs nothing here.
    func applyFieldChanges(account: String, batchSize: Int) async throws -> Int {
        var after = ""
        var total = 0
        while true {
            let (updated, last) = try await database.write { [rules, clock, after, lease] db -> (Int, String?) in
                try SQLiteReconcileFence.check(lease, in: db)
                let rows = try Row.fetchAll(db, sql: """
                    SELECT l.subscriber, s.requested_at, s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time,
                           l.version, l.subscribe_time, l.msg_flag, l.custom_string, l.last_send_msg_time
                    FROM subscribers l JOIN temp.listing s ON s.subscriber = l.subscriber
                    WHERE l.account = ? AND l.subscribed = 1 AND l.subscriber > ? AND (
                        l.subscribe_time IS NOT s.subscribe_time OR l.msg_flag IS NOT s.msg_flag
                        OR l.custom_string IS NOT s.custom_string OR l.last_send_msg_time IS NOT s.last_send_msg_time)
                    ORDER BY l.subscriber LIMIT ?
                    """, arguments: [account, after, batchSize])
                let recordedAt = clock.nowMilliseconds()
                var updated = 0
                for row in rows {
                    let requestedAt: Int64 = row[1]
                    // Changed after this page was requested: what the page says may be stale.
                    guard (row[6] as Int64) <= requestedAt else { continue }
                    let listed = SubscriberFields(subscribeTime: row[2], msgFlag: row[3], customString: row[4], lastSendMsgTime: row[5])
                    let known = SubscriberFields(subscribeTime: row[7], msgFlag: row[8], customString: row[9], lastSendMsgTime: row[10])
                    if try rules.updateFields(account: account, subscriber: row[0], version: requestedAt, listed: listed,
                                              known: known, recordedAt: recordedAt, in: db) {
                        updated += 1
                    }
                }
                return (updated, rows.last.map { $0[0] as String })
            }
            total += updated
            guard let last else { return total }
            after = last
        }
    }

    /// A listed entry is a fact "subscribed at the page's request time", applied with the rule of a
    /// callback's subscribe (`SQLiteSubscribeRule`) to a chunk of the listing per transaction: the
    /// event rows, then the state, then the version moves of those already subscribed.
    func addListed(account: String) async throws -> Int {
        let applies = """
            s.subscriber > :after AND (:upto IS NULL OR s.subscriber <= :upto)
            AND \(SQLiteSubscribeRule.outlivesDestruction(account: ":account", version: "s.requested_at"))
            """
        let resubscribes = "(l.subscriber IS NULL OR \(SQLiteSubscribeRule.resubscribes(row: "l", version: "s.requested_at")))"
        let events = """
            INSERT INTO outbox (id, type, source, subject, time, recorded_time, data)
            SELECT s.event_id, :type, :source, s.subscriber, s.requested_at, :now, s.event_data
            FROM temp.listing s LEFT JOIN subscribers l ON l.account = :account AND l.subscriber = s.subscriber
            WHERE \(applies) AND \(resubscribes)
            ORDER BY s.subscriber
            """
        let state = """
            INSERT INTO subscribers (account, subscriber, subscribed, version, since, origin, operator,
                                     subscribe_time, msg_flag, custom_string, last_send_msg_time)
            SELECT :account, s.subscriber, 1, s.requested_at, s.requested_at, :origin, NULL,
                   s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time
            FROM temp.listing s LEFT JOIN subscribers l ON l.account = :account AND l.subscriber = s.subscriber
            WHERE \(applies) AND \(resubscribes)
            ON CONFLICT (account, subscriber) DO UPDATE SET \(SQLiteSubscribeRule.subscriptionColumns)
            """
        // Driven by the account's rows in the chunk's range, not by the listing: a first sync into
        // an empty store then costs nothing here.
        let listedAt = "(SELECT s.requested_at FROM temp.listing s WHERE s.subscriber = subscribers.subscriber)"
        let moves = """
            UPDATE subscribers SET version = \(listedAt)
            WHERE account = :account AND subscriber > :after AND (:upto IS NULL OR subscriber <= :upto)
              AND \(SQLiteSubscribeRule.movesVersion(row: "subscribers", version: listedAt))
              AND \(SQLiteSubscribeRule.outlivesDestruction(account: ":account", version: listedAt))
            """
        let source = rules.outbox.storedSource(account: account)
        // A first sync writes hundreds of megabytes. The writer's own checkpoints, every few
        // megabytes, would each hold the write lock (and callbacks) while copying; a second
        // connection copies beside the inserts instead (measured: 1.8 s less for a million).
        try await database.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        // Written back as the constant every writer starts with: a pass interrupted before it could
        // restore the setting is repaired by the next one.
        let restore = "PRAGMA wal_autocheckpoint = \(SQLiteDatabase.writerAutocheckpointPages)"
        do {
            let added = try await BackgroundCheckpoint.during(writes: database) {
                try await addChunks(events: events, state: state, moves: moves, account: account, source: source)
            }
            try await database.writeWithoutTransaction { try $0.execute(sql: restore) }
            return added
        } catch {
            try? await database.writeWithoutTransaction { try $0.execute(sql: restore) }
            throw error
        }
    }

    private func addChunks(events: String, state: String, moves: String, account: String, source: String) async throws -> Int {
        var after = ""
        var added = 0
        while true {
            let (count, upto) = try await database.write { [clock, after, lease] db -> (Int, String?) in
                try SQLiteReconcileFence.check(lease, in: db)
                let upto = try String.fetchOne(db, sql: "SELECT subscriber FROM temp.listing WHERE subscriber > ? ORDER BY subscriber LIMIT 1 OFFSET ?",
                                               arguments: [after, Self.bulkChunk - 1])
                let arguments: StatementArguments = [
                    "after": after, "upto": upto, "account": account, "type": EventType.subscribed.rawValue,
                    "source": source, "now": clock.nowMilliseconds(), "origin": ChangeOrigin.reconcile.rawValue,
                ]
                try db.execute(sql: events, arguments: arguments)
                let eventCount = db.changesCount
                try db.execute(sql: state, arguments: arguments)
                guard db.changesCount == eventCount else {
                    throw DatabaseError(message: "adding listed subscribers wrote \(eventCount) events for \(db.changesCount) subscribers")
                }
                try db.execute(sql: moves, arguments: arguments)
                return (eventCount, upto)
            }
            added += count
            guard let upto else { return added }
            after = upto
        }
    }

    /// Records who is missing from this complete listing and returns those missing from two
    /// consecutive complete listings with an unchanged record: the ones that may be removed.
    ///
    /// Tencent does not say whether `Next` is a snapshot, a key or an offset, so a subscriber can be
    /// skipped by a listing taken while others come and go; missing twice in a row (with no callback
    /// about them in between) is the evidence this service accepts.
    func markCandidates(account: String, scan: Int64, scanStartedAt: Int64) async throws -> RemovalCandidates {
        try await database.write { [lease] db in
            try SQLiteReconcileFence.check(lease, in: db)
            let previousScan = try Int64.fetchOne(db, sql: "SELECT last_complete_scan FROM accounts WHERE account = ?", arguments: [account]) ?? -1
            let missing = try Row.fetchAll(db, sql: """
                SELECT l.subscriber, l.version, c.misses, c.last_scan, c.version_seen
                FROM subscribers l LEFT JOIN removal_candidates c ON c.account = l.account AND c.subscriber = l.subscriber
                WHERE l.account = ? AND l.subscribed = 1 AND l.version < ?
                  AND NOT EXISTS (SELECT 1 FROM temp.listing s WHERE s.subscriber = l.subscriber)
                """, arguments: [account, scanStartedAt])
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO removal_candidates (account, subscriber, misses, last_scan, version_seen) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (account, subscriber) DO UPDATE SET misses = excluded.misses, last_scan = excluded.last_scan,
                    version_seen = excluded.version_seen
                """)
            var removable: [String] = []
            for row in missing {
                let subscriber: String = row[0]
                let version: Int64 = row[1]
                let previousMisses: Int? = row[2]
                let lastScan: Int64? = row[3]
                let versionSeen: Int64? = row[4]
                let consecutive = lastScan == previousScan && versionSeen == version
                let misses = consecutive ? (previousMisses ?? 0) + 1 : 1
                try upsert.execute(arguments: [account, subscriber, misses, scan, version])
                if misses >= 2 { removable.append(subscriber) }
            }
            // Listed again, or changed since: their count starts over.
            try db.execute(sql: "DELETE FROM removal_candidates WHERE account = ? AND last_scan <> ?", arguments: [account, scan])
            return RemovalCandidates(count: missing.count, removable: removable)
        }
    }

    /// Unsubscribes the removable at the scan's start; a record that changed since stays.
    func remove(_ subscribers: [String], account: String, scanStartedAt: Int64, batchSize: Int) async throws -> Int {
        var removed = 0
        var start = 0
        while start < subscribers.count {
            let batch = Array(subscribers[start..<min(start + batchSize, subscribers.count)])
            start += batch.count
            removed += try await database.write { [rules, clock, lease] db in
                try SQLiteReconcileFence.check(lease, in: db)
                let recordedAt = clock.nowMilliseconds()
                var removed = 0
                for subscriber in batch
                where try rules.unsubscribe(account: account, subscriber: subscriber, version: scanStartedAt, origin: .reconcile,
                                            operatorAccount: nil, recordedAt: recordedAt, in: db) {
                    removed += 1
                    try db.execute(sql: "DELETE FROM removal_candidates WHERE account = ? AND subscriber = ?", arguments: [account, subscriber])
                }
                return removed
            }
        }
        return removed
    }
}
