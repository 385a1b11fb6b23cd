import Foundation
import GRDB
import ServiceLifecycle
import Synchronization

/// Group commit: writes that arrive while a transaction is committing wait together and share the
/// next one, so one fsync acknowledges many callbacks. SQLite has no group commit of its own, and
/// one fsync per callback caps durable ingest at a few thousand per second.
///
/// Transactions run on a dedicated thread through GRDB's synchronous API. An async write costs a
/// task and two executor hops per batch (measured: a fifth of the request rate at full ingest),
/// and a thread of our own may block in fsync, whereas blocking the cooperative pool would stall
/// every other request. The thread runs while the queue runs as a `Service`; callers check
/// `isRunning` and write directly otherwise (one-shot commands).
final class CommitQueue<Result: Sendable>: Service, Sendable {
    /// Runs inside the shared transaction; `recordedAt` is the batch's commit time (ms), read once
    /// per batch on the commit thread, so that it never goes backwards as sequences grow.
    typealias Work = @Sendable (_ db: Database, _ recordedAt: Int64) throws -> Result

    private struct Pending: Sendable {
        var work: Work
        var continuation: UnsafeContinuation<Result, any Error>
    }

    private let pending = BlockingQueue<Pending>()
    private let writer: @Sendable () throws -> any DatabaseWriter
    private let clock: any WallClock
    private let maxBatch: Int
    private let running = Atomic<Bool>(false)

    /// `writer` opens the database when the queue starts running, not before.
    init(writer: @escaping @Sendable () throws -> any DatabaseWriter, clock: any WallClock, maxBatch: Int = 512) {
        precondition(maxBatch > 0, "a commit batch holds at least one write")
        self.writer = writer
        self.clock = clock
        self.maxBatch = maxBatch
    }

    var isRunning: Bool { running.load(ordering: .acquiring) }

    /// Commits batches on the dedicated thread until graceful shutdown; then answers everything
    /// already queued and refuses more. Services stop in reverse order, so the writers in front
    /// of this one (the HTTP server, the emitter) have stopped by then.
    func run() async throws {
        let (pending, writer, clock, maxBatch) = (self.pending, try self.writer(), self.clock, self.maxBatch)
        let finished = AsyncStream<Void>.makeStream()
        let thread = Thread {
            // Named from inside: on Linux a name given before `start()` is not applied, and the
            // thread would pass for one of the cooperative pool's in per-thread profiles.
            Thread.current.name = "commit-queue"
            while let batch = pending.take(limit: maxBatch) {
                Self.commit(batch, at: clock.nowMilliseconds(), writer: writer)
            }
            finished.continuation.finish()
        }
        running.store(true, ordering: .releasing)
        thread.start()
        try? await gracefulShutdown()
        running.store(false, ordering: .releasing)
        pending.close()
        for await _ in finished.stream {}
    }

    /// Runs `work` in a shared write transaction and returns once that transaction has committed
    /// (durably: the database syncs every commit). When an item fails, the batch is retried item
    /// by item, so one failing item does not undo its batch-mates.
    func submit(_ work: @escaping Work) async throws -> Result {
        try await withUnsafeThrowingContinuation { continuation in
            if !pending.put(Pending(work: work, continuation: continuation)) {
                continuation.resume(throwing: CancellationError())
            }
        }
    }

    private static func commit(_ batch: [Pending], at recordedAt: Int64, writer: any DatabaseWriter) {
        do {
            let results = try writer.write { db in try batch.map { try $0.work(db, recordedAt) } }
            for (item, result) in zip(batch, results) { item.continuation.resume(returning: result) }
        } catch {
            // One item failed and took its batch-mates' transaction with it: give each its own,
            // so that only the failing one is refused. Rare, so the common path pays for no
            // savepoints.
            for item in batch {
                item.continuation.resume(with: Swift.Result { try writer.write { try item.work($0, recordedAt) } })
            }
        }
    }
}
