import GRDB
import Logging
import ServiceLifecycle

/// Keeps the WAL checkpointed beside the commit thread for as long as `serve` runs (see
/// `BackgroundCheckpoint`).
struct CheckpointService: Service {
    let path: String
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { [path] in
                try await BackgroundCheckpoint.run(path: path, every: BackgroundCheckpoint.serveInterval)
            }
        } catch {
            // Not a reason to stop taking callbacks: the writer's own checkpoints still keep the
            // WAL bounded, only at some cost to ingest. A service that returned early would end
            // the whole group, so wait for the shutdown instead.
            logger.warning("background WAL checkpoints are off; the writer checkpoints alone",
                           metadata: ["error": "\(error)"])
            try? await gracefulShutdown()
        }
    }
}
