import Foundation
import GRDB
import Testing
@testable import SubscriberSync

@Suite struct BackgroundCheckpointTests {
    /// With the writer's own checkpoints off, the database file can only grow by checkpoints from
    /// the second connection: it must grow while the writes are still going on.
    @Test func copiesTheWALBesideTheWrites() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("store.sqlite")
        let database = try StoreDatabase.open(path: path)
        try await database.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            try db.execute(sql: "CREATE TABLE filler (x BLOB)")
        }
        func fileSize() throws -> Int {
            try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        }
        let before = try fileSize()
        let duringWrites = try await BackgroundCheckpoint.during(writes: database) {
            for _ in 0..<8 {
                try await database.write { db in
                    for _ in 0..<200 { try db.execute(sql: "INSERT INTO filler (x) VALUES (zeroblob(4000))") }
                }
                try await Task.sleep(for: .milliseconds(60))
            }
            return try fileSize()
        }
        #expect(duringWrites > before + 1_000_000, "database file \(before) → \(duringWrites) bytes while writing")
        let rows = try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM filler") }
        #expect(rows == 1600)
    }
}
