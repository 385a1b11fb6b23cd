import GRDB

/// Copies the WAL into the database file from a second connection while a bulk write runs.
///
/// A first sync of a large account appends hundreds of megabytes to the WAL with automatic
/// checkpoints off (`DriftRepair.addListed`). Left alone, all of it would be copied by the first
/// commit afterwards, in one go, while that commit (and every callback behind it) waits: 1.8 s for
/// a million subscribers. The bulk inserts keep one core busy with SQLite's B-trees; passive
/// checkpoints from here copy what is already committed on the other, so that little is left for
/// the writer. A passive checkpoint never blocks the writer or readers.
struct BackgroundCheckpoint {
    /// Often enough that little is left at the end, rarely enough that its syncs of the database
    /// file do not crowd the bulk commits' own (300 ms measured slightly better than 100 ms).
    static let interval = Duration.milliseconds(300)

    /// Runs `body` with checkpoints going on beside it. Failures of the checkpoints are ignored:
    /// the writer's own checkpoint afterwards still does whatever is left.
    static func during<T: Sendable>(writes database: any DatabaseWriter, _ body: () async throws -> T) async throws -> T {
        let path = database.path
        let checkpoints = Task {
            var configuration = Configuration()
            configuration.busyMode = .timeout(1)
            configuration.label = "background-checkpoint"
            guard let connection = try? DatabaseQueue(path: path, configuration: configuration) else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                _ = try? await connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
            }
        }
        defer { checkpoints.cancel() }
        let result = try await body()
        checkpoints.cancel()
        await checkpoints.value
        return result
    }
}
