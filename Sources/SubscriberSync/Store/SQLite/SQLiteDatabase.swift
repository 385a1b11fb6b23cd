import CSQLiteConfig
import Foundation
import GRDB

/// Opens the SQLite database every command shares and brings its schema up to date.
enum SQLiteDatabase {
    struct OpenError: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens (creating when allowed) the database at `path` in WAL mode with `synchronous=FULL`.
    ///
    /// Durability: in WAL mode with `synchronous=FULL` SQLite fsyncs the WAL on every commit, so an
    /// acknowledged callback survives power loss, not only a process crash. `NORMAL` would only
    /// survive the latter, which is not what "committed durably" promises Tencent.
    static func open(path: String, create: Bool = true, migrate: Bool = true) throws -> DatabasePool {
        _ = processSettings
        if !create && !FileManager.default.fileExists(atPath: path) {
            throw OpenError(description: "no database at \(path)")
        }
        var configuration = Configuration()
        // Another process (reconcile, export) may hold the write lock for a moment; wait for it
        // rather than failing a callback.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            // A first sync of a large account grows the WAL by hundreds of megabytes; give the
            // space back once it has been checkpointed.
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw OpenError(description: "cannot open database at \(path): \(error)")
        }
        // GRDB sets synchronous=NORMAL on the writer after prepareDatabase; override it here.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(writerAutocheckpointPages)")
        }
        if migrate {
            try SQLiteSchema.migrator.migrate(pool)
        } else if try !pool.read({ try SQLiteSchema.migrator.hasCompletedMigrations($0) }) {
            throw OpenError(description: "the database at \(path) has an older or newer schema; run serve on it first")
        }
        return pool
    }

    /// The writer's automatic checkpoint, in WAL pages (16 MB; SQLite's default is 1,000). It is the
    /// backstop behind `BackgroundCheckpoint`, which does most of the copying while `serve` runs;
    /// it is also the only checkpoint that restarts the WAL from its beginning under a steady
    /// stream of commits, which bounds the WAL's size.
    static let writerAutocheckpointPages = 4_000

    /// Applied once, before the process's first connection: after that SQLite ignores them. The
    /// result is deliberately unused: a process that opened a connection some other way first (a
    /// test host) simply runs with SQLite's defaults.
    private static let processSettings: Void = {
        _ = subscriber_sync_sqlite_disable_memory_statistics()
    }()
}
