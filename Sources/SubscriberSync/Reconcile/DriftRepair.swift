import GRDB

/// Compares a complete listing (in staging) with the store and repairs the difference, in batched
/// transactions so that callbacks keep flowing in between. Every decision is re-checked against
/// the row inside the transaction that writes it, so a callback that landed during the scan wins.
struct DriftRepair {
    let store: SubscriberStore
    let database: any DatabaseWriter
    let clock: any WallClock
    let batchSize: Int

    /// Listed but locally absent or unsubscribed → subscribed; listed with changed fields → updated.
    func applyListed(account: String, scan: Int64, report: inout ReconcileReport) async throws {
        report.added += try await addInBulk(account: account, scan: scan)
        try await applyRemaining(account: account, scan: scan, report: &report)
    }

    /// Rows of staging per bulk transaction: long enough to amortize, short enough that a callback
    /// waits at most a few tens of milliseconds for the write lock.
    static let bulkChunk = 20_000
    /// A `CustomString` up to this many bytes cannot push an event past the line budget, however
    /// it escapes; longer ones take the row-by-row path, which has the guard.
    static let bulkCustomStringLimit = 1024

    /// The common case, a subscriber the store does not have (a first sync adds them all), done in
    /// SQL: the event rows and the state rows of a chunk in two statements, in one transaction.
    /// The conditions are the row-by-row path's: locally absent, or unsubscribed at an older
    /// version than the page's request time.
    func addInBulk(account: String, scan: Int64) async throws -> Int {
        let condition = """
            s.scan = :scan AND s.subscriber > :after AND (:upto IS NULL OR s.subscriber <= :upto)
            AND (l.subscriber IS NULL OR (l.subscribed = 0 AND l.version < s.requested_at))
            AND length(CAST(COALESCE(s.custom_string, '') AS BLOB)) <= \(Self.bulkCustomStringLimit)
            """
        let events = """
            INSERT INTO outbox (id, type, source, subject, time, recorded_time, data)
            SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
                         || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
                   :type, :source, s.subscriber, s.requested_at, :now,
                   json_patch(json_object('officialAccount', :account, 'subscriber', s.subscriber, 'origin', 'reconcile'),
                              json_object('subscribeTime', s.subscribe_time, 'msgFlag', s.msg_flag,
                                          'customString', s.custom_string, 'lastSendMsgTime', s.last_send_msg_time))
            FROM staging s LEFT JOIN subscribers l ON l.account = :account AND l.subscriber = s.subscriber
            WHERE \(condition)
            ORDER BY s.subscriber
            """
        let state = """
            INSERT INTO subscribers (account, subscriber, subscribed, version, since, origin, operator,
                                     subscribe_time, msg_flag, custom_string, last_send_msg_time)
            SELECT :account, s.subscriber, 1, s.requested_at, s.requested_at, 'reconcile', NULL,
                   s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time
            FROM staging s LEFT JOIN subscribers l ON l.account = :account AND l.subscriber = s.subscriber
            WHERE \(condition)
            ON CONFLICT (account, subscriber) DO UPDATE SET
                subscribed = 1, version = excluded.version, since = excluded.since, origin = 'reconcile', operator = NULL,
                subscribe_time = excluded.subscribe_time, msg_flag = excluded.msg_flag,
                custom_string = excluded.custom_string, last_send_msg_time = excluded.last_send_msg_time
            """
        let source = store.outbox.source(account: account)
        var after = ""
        var added = 0
        while true {
            let (count, upto) = try await database.write { [clock, after] db -> (Int, String?) in
                let upto = try String.fetchOne(db, sql: """
                    SELECT subscriber FROM staging WHERE scan = ? AND subscriber > ? ORDER BY subscriber LIMIT 1 OFFSET ?
                    """, arguments: [scan, after, Self.bulkChunk - 1])
                let arguments: StatementArguments = [
                    "scan": scan, "after": after, "upto": upto, "account": account, "type": EventType.subscribed.attribute,
                    "source": source, "now": clock.nowMilliseconds(),
                ]
                try db.execute(sql: events, arguments: arguments)
                let events = db.changesCount
                try db.execute(sql: state, arguments: arguments)
                guard db.changesCount == events else {
                    throw DatabaseError(message: "bulk add wrote \(events) events for \(db.changesCount) subscribers")
                }
                return (events, upto)
            }
            added += count
            guard let upto else { return added }
            after = upto
        }
    }

    /// Everything the bulk path left: field changes, and adds it could not take.
    private func applyRemaining(account: String, scan: Int64, report: inout ReconcileReport) async throws {
        var after = ""
        while true {
            let (added, updated, last) = try await database.write { [store, clock, batchSize, after] db -> (Int, Int, String?) in
                let rows = try Row.fetchAll(db, sql: """
                    SELECT s.subscriber, s.requested_at, s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time,
                           l.subscribed, l.version, l.subscribe_time, l.msg_flag, l.custom_string, l.last_send_msg_time
                    FROM staging s LEFT JOIN subscribers l ON l.account = ? AND l.subscriber = s.subscriber
                    WHERE s.scan = ? AND s.subscriber > ? AND (
                        l.subscriber IS NULL OR l.subscribed = 0 OR l.subscribe_time IS NOT s.subscribe_time
                        OR l.msg_flag IS NOT s.msg_flag OR l.custom_string IS NOT s.custom_string
                        OR l.last_send_msg_time IS NOT s.last_send_msg_time)
                    ORDER BY s.subscriber LIMIT ?
                    """, arguments: [account, scan, after, batchSize])
                let recordedAt = clock.nowMilliseconds()
                var added = 0
                var updated = 0
                for row in rows {
                    let subscriber: String = row[0]
                    let requestedAt: Int64 = row[1]
                    let listed = SubscriberFields(subscribeTime: row[2], msgFlag: row[3], customString: row[4], lastSendMsgTime: row[5])
                    let localSubscribed: Bool? = row[6]
                    let localVersion: Int64? = row[7]
                    // Changed after this page was requested: a callback during the scan is newer.
                    if let localVersion, localVersion > requestedAt { continue }
                    if localSubscribed == true {
                        let known = SubscriberFields(subscribeTime: row[8], msgFlag: row[9], customString: row[10], lastSendMsgTime: row[11])
                        if try store.updateFields(account: account, subscriber: subscriber, version: requestedAt, listed: listed,
                                                  known: known, recordedAt: recordedAt, in: db) {
                            updated += 1
                        }
                    } else if try store.subscribe(account: account, subscriber: subscriber, version: requestedAt, origin: .reconcile,
                                                  operatorAccount: nil, fields: listed, recordedAt: recordedAt, in: db) {
                        added += 1
                    }
                }
                return (added, updated, rows.last.map { $0[0] as String })
            }
            report.added += added
            report.updated += updated
            guard let last else { break }
            after = last
        }
    }

    /// Records who is missing from this complete listing and returns those missing from two
    /// consecutive complete listings with an unchanged record: the ones that may be removed.
    ///
    /// Tencent does not say whether `Next` is a snapshot, a key or an offset, so a subscriber can be
    /// skipped by a listing taken while others come and go; missing twice in a row (with no callback
    /// about them in between) is the evidence this service accepts.
    func markCandidates(account: String, scan: Int64, scanStartedAt: Int64) async throws -> (candidates: Int, removable: [String]) {
        try await database.write { db in
            let previousScan = try Int64.fetchOne(db, sql: "SELECT last_complete_scan FROM accounts WHERE account = ?", arguments: [account]) ?? -1
            let missing = try Row.fetchAll(db, sql: """
                SELECT l.subscriber, l.version, c.misses, c.last_scan, c.version_seen
                FROM subscribers l LEFT JOIN removal_candidates c ON c.account = l.account AND c.subscriber = l.subscriber
                WHERE l.account = ? AND l.subscribed = 1 AND l.version < ?
                  AND NOT EXISTS (SELECT 1 FROM staging s WHERE s.scan = ? AND s.subscriber = l.subscriber)
                """, arguments: [account, scanStartedAt, scan])
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
            return (missing.count, removable)
        }
    }

    /// Unsubscribes the removable at the scan's start; a record that changed since stays.
    func remove(_ subscribers: [String], account: String, scanStartedAt: Int64) async throws -> Int {
        var removed = 0
        var start = 0
        while start < subscribers.count {
            let batch = Array(subscribers[start..<min(start + batchSize, subscribers.count)])
            start += batch.count
            removed += try await database.write { [store, clock] db in
                let recordedAt = clock.nowMilliseconds()
                var removed = 0
                for subscriber in batch
                where try store.unsubscribe(account: account, subscriber: subscriber, version: scanStartedAt, origin: .reconcile,
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
