import GRDB

/// The SQLite schema, as GRDB migrations so that later versions can evolve it in place.
enum SQLiteSchema {
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
        migrator.registerMigration("v2-reconcile") { db in
            // The listing itself is streamed into a TEMP table of the writer connection (see
            // SQLiteListing): it needs no durability, and a crash abandons the scan anyway.
            try db.execute(sql: """
                CREATE TABLE scans (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    account TEXT NOT NULL,
                    started_at INTEGER NOT NULL,
                    finished_at INTEGER,
                    outcome TEXT
                );
                -- Subscribers missing from a complete listing, and whether they were also missing
                -- from the previous complete listing of that account (the two-listing rule).
                CREATE TABLE removal_candidates (
                    account TEXT NOT NULL,
                    subscriber TEXT NOT NULL,
                    misses INTEGER NOT NULL,
                    last_scan INTEGER NOT NULL,
                    version_seen INTEGER NOT NULL,
                    PRIMARY KEY (account, subscriber)
                ) WITHOUT ROWID;
                ALTER TABLE accounts ADD COLUMN last_complete_scan INTEGER;
                """)
        }
        migrator.registerMigration("v3-outbox-rowid") { db in
            // `sequence` becomes a plain rowid alias. AUTOINCREMENT reads and rewrites a row of
            // sqlite_sequence for every insert: a B-tree lookup, an update and one more WAL page
            // per commit on the ingest path. Its only promise beyond a rowid's is that a number is
            // never reused once the newest row is deleted. A trigger keeps that promise instead:
            // the newest row cannot be deleted, so the next rowid is always MAX(sequence) + 1, as
            // gap-free as before, and never at or below the emitter's checkpoint (a reused number
            // there would never be emitted). Older rows may go; nothing deletes any today.
            try db.execute(sql: """
                CREATE TABLE outbox_v3 (
                    sequence INTEGER PRIMARY KEY,
                    id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    source TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    time INTEGER NOT NULL,
                    recorded_time INTEGER NOT NULL,
                    data TEXT NOT NULL
                );
                INSERT INTO outbox_v3 (sequence, id, type, source, subject, time, recorded_time, data)
                    SELECT sequence, id, type, source, subject, time, recorded_time, data FROM outbox ORDER BY sequence;
                DROP TABLE outbox;
                ALTER TABLE outbox_v3 RENAME TO outbox;
                DELETE FROM sqlite_sequence WHERE name = 'outbox';
                CREATE TRIGGER outbox_keeps_newest BEFORE DELETE ON outbox
                WHEN OLD.sequence >= (SELECT MAX(sequence) FROM outbox)
                BEGIN
                    SELECT RAISE(ABORT, 'the newest outbox row numbers the next event: it cannot be deleted');
                END;
                """)
        }
        migrator.registerMigration("v4-lease-epoch") { db in
            // The emitter lease's fencing number (see `EmitterLeaseGrant`).
            try db.execute(sql: "ALTER TABLE emitter_state ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v5-reconcile-lease") { db in
            // The reconciler's lease (see `ReconcileLeaseGrant`): a `reconcile` beside `serve`
            // waits for serve's pass instead of overlapping it.
            try db.execute(sql: """
                CREATE TABLE reconcile_lease (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    holder TEXT,
                    epoch INTEGER NOT NULL,
                    expires INTEGER NOT NULL,
                    last_started INTEGER
                );
                INSERT INTO reconcile_lease (id, holder, epoch, expires, last_started) VALUES (1, NULL, 0, 0, NULL);
                """)
        }
        migrator.registerMigration("v6-account-created") { db in
            // A creation newer than the destruction makes an account live again (`AccountRecord`).
            try db.execute(sql: "ALTER TABLE accounts ADD COLUMN created_at INTEGER")
        }
        migrator.registerMigration("v7-readiness-probe") { db in
            // `/readyz` commits to this row: only a commit proves that callbacks can commit.
            try db.execute(sql: """
                CREATE TABLE readiness_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL);
                INSERT INTO readiness_probe (id, at) VALUES (1, 0);
                """)
        }
        migrator.registerMigration("v8-forward-queue") { db in
            // Callbacks to pass on (see `Forwarder`): a job per (callback, target), written in the
            // callback's transaction; deleted once delivered, kept with `dead_at` when given up.
            // The rowid orders a target's jobs: one writer, so it grows in commit order.
            try db.execute(sql: """
                CREATE TABLE forward_jobs (
                    id INTEGER PRIMARY KEY,
                    target TEXT NOT NULL,
                    delivery TEXT NOT NULL,
                    command TEXT NOT NULL,
                    query TEXT NOT NULL,
                    content_type TEXT NOT NULL,
                    body BLOB NOT NULL,
                    received_at INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT,
                    dead_at INTEGER
                );
                CREATE INDEX forward_jobs_live ON forward_jobs (target, id) WHERE dead_at IS NULL;
                CREATE TABLE forwarder_lease (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    holder TEXT,
                    epoch INTEGER NOT NULL,
                    expires INTEGER NOT NULL
                );
                INSERT INTO forwarder_lease (id, holder, epoch, expires) VALUES (1, NULL, 0, 0);
                """)
        }
        migrator.registerMigration("v9-subscriptions-by-subscriber") { db in
            // The read API's "which accounts does this user subscribe to" (the primary key serves
            // the per-account reads).
            try db.execute(sql: "CREATE INDEX subscribers_by_subscriber ON subscribers (subscriber)")
        }
        return migrator
    }
}
