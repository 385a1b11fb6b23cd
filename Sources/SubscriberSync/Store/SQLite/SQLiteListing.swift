import GRDB

/// A pass's listing on SQLite: a TEMP table of the writer connection. Nothing else needs to see
/// it, it needs no durability (a crash abandons the scan), and writing it costs no WAL traffic or
/// fsync. Each row carries the `subscriber.subscribed` event it would become, rendered while the
/// scan waits on Tencent's pace, so that adding a million subscribers at the end is a copy.
enum SQLiteListing {
    static func createTable(in db: Database) throws {
        try db.execute(sql: """
            DROP TABLE IF EXISTS temp.listing;
            CREATE TEMP TABLE listing (
                subscriber TEXT NOT NULL PRIMARY KEY,
                requested_at INTEGER NOT NULL,
                subscribe_time INTEGER,
                custom_string TEXT,
                msg_flag TEXT,
                last_send_msg_time INTEGER,
                event_id TEXT NOT NULL,
                event_data TEXT NOT NULL
            ) WITHOUT ROWID;
            """)
    }

    static func dropTable(in db: Database) throws {
        try db.execute(sql: "DROP TABLE IF EXISTS temp.listing")
    }

    /// A subscriber listed twice (the account churned between pages) keeps the latest entry.
    static func stage(_ entries: [ListedSubscriber], in db: Database) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO temp.listing (subscriber, requested_at, subscribe_time, custom_string, msg_flag, last_send_msg_time,
                                                 event_id, event_data)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for entry in entries {
            try statement.execute(arguments: [entry.subscriber, entry.requestedAt, entry.fields.subscribeTime, entry.fields.customString,
                                              entry.fields.msgFlag, entry.fields.lastSendMsgTime, entry.eventID,
                                              String(decoding: entry.eventData, as: UTF8.self)])
        }
    }
}
