import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Testing
@testable import SubscriberSync

@Suite struct BackgroundCheckpointTests {
    /// A store with an empty WAL and a `filler` table, whose database file can only grow through
    /// checkpoints.
    struct Store {
        let directory: TemporaryDirectory
        let path: String
        let database: DatabasePool

        init() throws {
            directory = try TemporaryDirectory()
            path = directory.file("store.sqlite")
            database = try SQLiteDatabase.open(path: path)
            try database.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
                try db.execute(sql: "CREATE TABLE filler (x BLOB)")
            }
        }

        func fileSize() throws -> Int {
            try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        }
    }

    /// With the writer's own checkpoints off, the database file can only grow by checkpoints from
    /// the second connection: it must grow while the writes are still going on.
    @Test func copiesTheWALBesideTheWrites() async throws {
        let store = try Store()
        let database = store.database
        try await database.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        let fileSize = store.fileSize
        let before = try fileSize()
        // Keep writing (up to 10 s, for a loaded machine) until the file has grown: it can only
        // grow through the second connection's checkpoints while the writes are still going on.
        let (duringWrites, batches) = try await BackgroundCheckpoint.during(writes: database) {
            var batches = 0
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                try await database.write { db in
                    for _ in 0..<200 { try db.execute(sql: "INSERT INTO filler (x) VALUES (zeroblob(4000))") }
                }
                batches += 1
                try await Task.sleep(for: .milliseconds(50))
                if try fileSize() > before + 1_000_000 { break }
            }
            return (try fileSize(), batches)
        }
        #expect(duringWrites > before + 1_000_000, "database file \(before) → \(duringWrites) bytes while writing")
        let rows = try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM filler") }
        #expect(rows == batches * 200)
    }

    @Test func theWriterKeepsItsOwnCheckpointAsTheBackstop() throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase.open(path: directory.file("store.sqlite"))
        let pages = try database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA wal_autocheckpoint") }
        #expect(pages == SQLiteDatabase.writerAutocheckpointPages)
    }

    /// The service `serve` runs: copies committed pages while the writer stays under its own
    /// threshold (so the writer never checkpoints here), and returns on graceful shutdown.
    @Test func serviceCheckpointsWhileServingAndStopsOnShutdown() async throws {
        let store = try Store()
        let database = store.database
        let fileSize = store.fileSize
        let before = try fileSize()
        let group = ServiceGroup(configuration: .init(services: [CheckpointService(path: store.path, logger: Logger(label: "test"))],
                                                      logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        // 250 pages, far below the writer's threshold: only the service can copy them.
        try await database.write { db in
            for _ in 0..<250 { try db.execute(sql: "INSERT INTO filler (x) VALUES (zeroblob(4000))") }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while try fileSize() < before + 900_000, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let after = try fileSize()
        #expect(after >= before + 900_000, "database file \(before) → \(after) bytes")
        await group.triggerGracefulShutdown()
        // A service that ignored the shutdown would hang the group: cancel it after 30 s instead,
        // and fail. (A checkpoint under way finishes first; on a loaded machine that took 10 s.)
        let started = ContinuousClock.now
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            running.cancel()
        }
        let result = await running.result
        watchdog.cancel()
        #expect(ContinuousClock.now - started < .seconds(30), "the checkpoint service did not stop on graceful shutdown")
        #expect(throws: Never.self) { try result.get() }
    }
}
