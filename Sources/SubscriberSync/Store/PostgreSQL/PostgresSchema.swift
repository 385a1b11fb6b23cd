import Logging
import PostgresNIO

/// The PostgreSQL schema, as numbered migrations. Each runs in one transaction that first takes
/// a transaction-level advisory lock, so replicas that start together apply each migration once:
/// the second waits, then finds it applied.
enum PostgresSchema {
    /// Any fixed number: the lock only has to be the same for every replica.
    static let migrationLock: Int64 = 0x5375_6253_796E_63  // "SubSync"

    static let migrations: [(version: Int, sql: [String])] = [
        (1, [
            // One row per (account, subscriber) ever seen; unsubscribed rows stay as tombstones.
            """
            CREATE TABLE subscribers (
                account TEXT NOT NULL,
                subscriber TEXT NOT NULL,
                subscribed BOOLEAN NOT NULL,
                version BIGINT NOT NULL,
                since BIGINT,
                origin TEXT NOT NULL,
                operator TEXT,
                subscribe_time BIGINT,
                msg_flag TEXT,
                custom_string TEXT,
                last_send_msg_time BIGINT,
                PRIMARY KEY (account, subscriber)
            )
            """,
            """
            CREATE TABLE accounts (
                account TEXT PRIMARY KEY,
                first_seen BIGINT NOT NULL,
                destroyed_at BIGINT,
                last_complete_scan BIGINT
            )
            """,
            // `position` orders rows of one transaction; `xid` is the writing transaction, so the
            // emitter can tell which rows are certainly committed (see `PostgresOutbox`). The
            // public `sequence` is assigned by the emitter, in commit order.
            """
            CREATE TABLE outbox (
                position BIGSERIAL PRIMARY KEY,
                xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
                sequence BIGINT UNIQUE,
                id TEXT NOT NULL,
                type TEXT NOT NULL,
                source TEXT NOT NULL,
                subject TEXT NOT NULL,
                time BIGINT NOT NULL,
                recorded_time BIGINT NOT NULL,
                data TEXT NOT NULL
            )
            """,
            "CREATE INDEX outbox_unnumbered ON outbox (xid, position) WHERE sequence IS NULL",
            """
            CREATE TABLE emitter_state (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                checkpoint BIGINT NOT NULL,
                numbered BIGINT NOT NULL,
                lease_holder TEXT,
                lease_epoch BIGINT NOT NULL,
                lease_expires BIGINT NOT NULL
            )
            """,
            "INSERT INTO emitter_state (id, checkpoint, numbered, lease_holder, lease_epoch, lease_expires) VALUES (1, 0, 0, NULL, 0, 0)",
            """
            CREATE TABLE scans (
                id BIGSERIAL PRIMARY KEY,
                account TEXT NOT NULL,
                started_at BIGINT NOT NULL,
                finished_at BIGINT,
                outcome TEXT
            )
            """,
            """
            CREATE TABLE removal_candidates (
                account TEXT NOT NULL,
                subscriber TEXT NOT NULL,
                misses INTEGER NOT NULL,
                last_scan BIGINT NOT NULL,
                version_seen BIGINT NOT NULL,
                PRIMARY KEY (account, subscriber)
            )
            """,
            // A pass's listing: unlogged (no WAL; a crash abandons the pass anyway), shared by the
            // pool's connections, one pass per `pass`. COPY appends; a subscriber listed twice
            // keeps the entry with the highest `position`.
            """
            CREATE UNLOGGED TABLE listing (
                pass BIGINT NOT NULL,
                position BIGSERIAL,
                subscriber TEXT NOT NULL,
                requested_at BIGINT NOT NULL,
                subscribe_time BIGINT,
                custom_string TEXT,
                msg_flag TEXT,
                last_send_msg_time BIGINT,
                event_id TEXT NOT NULL,
                event_data TEXT NOT NULL
            )
            """,
            "CREATE INDEX listing_by_subscriber ON listing (pass, subscriber, position)",
            // The reconciler's lease: one pass at a time across every replica and `reconcile`.
            """
            CREATE TABLE reconcile_lease (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                holder TEXT,
                epoch BIGINT NOT NULL,
                expires BIGINT NOT NULL,
                last_started BIGINT
            )
            """,
            "INSERT INTO reconcile_lease (id, holder, epoch, expires, last_started) VALUES (1, NULL, 0, 0, NULL)",
        ]),
        (2, [
            // A creation newer than the destruction makes an account live again (`AccountRecord`).
            "ALTER TABLE accounts ADD COLUMN created_at BIGINT",
        ]),
        (3, [
            // Callbacks to pass on (see `Forwarder`, `PostgresForwardQueue`): a job per (callback,
            // target) written in the callback's transaction; deleted once delivered, kept with
            // `dead_at` when given up. `xid` orders a target's jobs in commit order.
            """
            CREATE TABLE forward_jobs (
                id BIGSERIAL PRIMARY KEY,
                xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
                target TEXT NOT NULL,
                delivery TEXT NOT NULL,
                command TEXT NOT NULL,
                query TEXT NOT NULL,
                content_type TEXT NOT NULL,
                body BYTEA NOT NULL,
                received_at BIGINT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at BIGINT NOT NULL DEFAULT 0,
                last_error TEXT,
                dead_at BIGINT
            )
            """,
            "CREATE INDEX forward_jobs_live ON forward_jobs (target, xid, id) WHERE dead_at IS NULL",
            """
            CREATE TABLE forwarder_lease (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                holder TEXT,
                epoch BIGINT NOT NULL,
                expires BIGINT NOT NULL
            )
            """,
            "INSERT INTO forwarder_lease (id, holder, epoch, expires) VALUES (1, NULL, 0, 0)",
        ]),
        (4, [
            // The read API's "which accounts does this user subscribe to" (the primary key serves
            // the per-account reads).
            "CREATE INDEX subscribers_by_subscriber ON subscribers (subscriber)",
        ]),
        (5, [
            // Every table it alters, at once and in the order callbacks take them, so that
            // replicas still running the previous version wait instead of deadlocking with it.
            "LOCK TABLE accounts, subscribers, outbox, forward_jobs, removal_candidates, listing IN ACCESS EXCLUSIVE MODE",
            // Keys compare as bytes, as SQLite's do: one order on both engines (export, keyset
            // cursors) whatever the database's locale, and no locale-aware comparison at every
            // step down an index (about a tenth of an upsert: scripts/bench/postgres-row-costs.sh).
            """
            ALTER TABLE subscribers ALTER COLUMN account TYPE TEXT COLLATE "C", ALTER COLUMN subscriber TYPE TEXT COLLATE "C"
            """,
            #"ALTER TABLE accounts ALTER COLUMN account TYPE TEXT COLLATE "C""#,
            """
            ALTER TABLE removal_candidates ALTER COLUMN account TYPE TEXT COLLATE "C", ALTER COLUMN subscriber TYPE TEXT COLLATE "C"
            """,
            #"ALTER TABLE listing ALTER COLUMN subscriber TYPE TEXT COLLATE "C""#,
            #"ALTER TABLE forward_jobs ALTER COLUMN target TYPE TEXT COLLATE "C""#,
            // Rows are numbered by the emitter after they commit; until then they need no entry in
            // the sequence's index (one index write fewer per event).
            "CREATE UNIQUE INDEX outbox_sequence ON outbox (sequence) WHERE sequence IS NOT NULL",
            "ALTER TABLE outbox DROP CONSTRAINT outbox_sequence_key",
        ]),
    ]

    static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the schema up to date. Fails, changing nothing, on a database migrated by a newer
    /// version of the service.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS subscriber_sync_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, logger: logger)
            var applied = 0
            for try await (version) in try await connection.query("SELECT COALESCE(MAX(version), 0) FROM subscriber_sync_migrations", logger: logger)
                .decode(Int.self) {
                applied = version
            }
            guard applied <= latestVersion else {
                throw PostgresStorageError("the database's schema (version \(applied)) is newer than this subscriber-sync knows (version \(latestVersion)); upgrade subscriber-sync")
            }
            for migration in migrations where migration.version > applied {
                for statement in migration.sql {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO subscriber_sync_migrations (version) VALUES (\(migration.version))", logger: logger)
                logger.info("database schema migrated", metadata: ["version": "\(migration.version)"])
            }
        }
    }
}
