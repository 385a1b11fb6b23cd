import GRDB

/// The schema, as GRDB migrations so that later versions can evolve it in place.
enum StoreSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // One row per (account, subscriber) ever seen. Unsubscribed rows stay as tombstones:
            // their `version` is what stops an older, late subscribe from resurrecting them.
            try db.execute(sql: """
                CREATE TABLE subscribers (
                    account TEXT NOT NULL,
                    subscriber TEXT NOT NULL,
                    subscribed INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    since INTEGER,
                    origin TEXT NOT NULL,
                    operator TEXT,
                    subscribe_time INTEGER,
                    msg_flag TEXT,
                    custom_string TEXT,
                    last_send_msg_time INTEGER,
                    PRIMARY KEY (account, subscriber)
                ) WITHOUT ROWID;
                CREATE TABLE accounts (
                    account TEXT NOT NULL PRIMARY KEY,
                    first_seen INTEGER NOT NULL,
                    destroyed_at INTEGER
                ) WITHOUT ROWID;
                CREATE TABLE outbox (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    source TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    time INTEGER NOT NULL,
                    recorded_time INTEGER NOT NULL,
                    data TEXT NOT NULL
                );
                CREATE TABLE emitter_state (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    checkpoint INTEGER NOT NULL,
                    lease_holder TEXT,
                    lease_expires INTEGER NOT NULL
                );
                INSERT INTO emitter_state (id, checkpoint, lease_holder, lease_expires) VALUES (1, 0, NULL, 0);
                """)
        }
        return migrator
    }
}
