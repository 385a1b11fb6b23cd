import GRDB

/// Copies the WAL into the database file from a second connection, beside the writer.
///
/// Every commit appends pages to the WAL, and someone has to copy them into the database file.
/// Left to the writer (SQLite's automatic checkpoint, run by whichever commit crosses the
/// threshold), the copy and its syncs of the database file happen while that writer holds the
/// write lock, and every callback queued behind it waits:
/// - a first sync of a large account appends hundreds of megabytes with automatic checkpoints off
///   (`DriftRepair.addListed`); all of it would be copied by the first commit afterwards, 1.8 s for
///   a million subscribers;
/// - under full callback ingest, the commit thread itself spent a few percent of its time copying.
/// Passive checkpoints from here copy what is already committed on the other core instead. A
/// passive checkpoint never blocks the writer or readers. The writer keeps its own automatic
/// checkpoint (`StoreDatabase.writerAutocheckpointPages`) as the backstop: only it can restart the
/// WAL from the beginning while commits keep coming, so it still copies the last few pages.
struct BackgroundCheckpoint {
    /// During a bulk write: often enough that little is left at the end, rarely enough that its
    /// syncs of the database file do not crowd the bulk commits' own (300 ms measured slightly
    /// better than 100 ms).
    static let bulkInterval = Duration.milliseconds(300)

    /// While serving: at full ingest the WAL grows by about 60 MB/s, so this leaves a few megabytes
    /// for each pass, well under the writer's threshold.
    static let serveInterval = Duration.milliseconds(100)

    /// Checkpoints every `interval` until the task is cancelled. Failed checkpoints are ignored: the
    /// writer's own checkpoint still does whatever is left. Throws only when the connection cannot
    /// be opened at all.
    static func run(path: String, every interval: Duration) async throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(1)
        configuration.label = "background-checkpoint"
        let connection = try DatabaseQueue(path: path, configuration: configuration)
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            _ = try? await connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
        }
    }

    /// Runs `body` with checkpoints going on beside it.
    static func during<T: Sendable>(writes database: any DatabaseWriter, _ body: () async throws -> T) async throws -> T {
        let path = database.path
        let checkpoints = Task { try? await run(path: path, every: bulkInterval) }
        defer { checkpoints.cancel() }
        let result = try await body()
        checkpoints.cancel()
        await checkpoints.value
        return result
    }
}
