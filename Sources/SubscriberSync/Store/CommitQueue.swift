import Foundation
import GRDB

/// Group commit: callbacks that arrive while a transaction is committing wait together and share
/// the next one, so one fsync acknowledges many callbacks. SQLite has no group commit of its own,
/// and one fsync per callback caps durable ingest at a few thousand per second.
///
/// Transactions run on a dedicated thread through GRDB's synchronous API. An async write costs a
/// task and two executor hops per batch (measured: a fifth of the request rate at full ingest),
/// and a thread of our own may block in fsync, whereas blocking the cooperative pool would stall
/// every other request.
public final class CommitQueue: Sendable {
    /// Runs inside the shared transaction; `recordedAt` is the batch's commit time (ms), read once
    /// per batch on the commit thread, so that it never goes backwards as sequences grow.
    public typealias Work = @Sendable (_ db: Database, _ recordedAt: Int64) throws -> SubscriberStore.ApplyResult

    private struct Pending: Sendable {
        var work: Work
        var continuation: UnsafeContinuation<SubscriberStore.ApplyResult, any Error>
    }

    private let pending = BlockingQueue<Pending>()

    public init(writer: any DatabaseWriter, clock: any WallClock = SystemWallClock(), maxBatch: Int = 512) {
        precondition(maxBatch > 0, "a commit batch holds at least one callback")
        let pending = self.pending
        Thread {
            Thread.current.name = "commit-queue"
            while let batch = pending.take(limit: maxBatch) {
                Self.commit(batch, at: clock.nowMilliseconds(), writer: writer)
            }
        }.start()
    }

    /// The thread ends once the queue is gone and everything submitted has been answered.
    deinit {
        pending.close()
    }

    /// Runs `work` in a shared write transaction and returns once that transaction has committed
    /// (durably: the database syncs every commit). When an item fails, the batch is retried item
    /// by item, so one failing item does not undo its batch-mates.
    public func submit(_ work: @escaping Work) async throws -> SubscriberStore.ApplyResult {
        try await withUnsafeThrowingContinuation { continuation in
            if !pending.put(Pending(work: work, continuation: continuation)) {
                continuation.resume(throwing: CancellationError())
            }
        }
    }

    /// `submit` for work that does not need the commit time.
    public func submit(_ work: @escaping @Sendable (Database) throws -> SubscriberStore.ApplyResult) async throws -> SubscriberStore.ApplyResult {
        try await submit { db, _ in try work(db) }
    }

    /// `submit` for a write that is not a callback (the emitter's checkpoint): it rides along in the
    /// next shared transaction instead of holding the writer for a commit and a sync of its own
    /// while callbacks wait. Returns what `work` returned.
    public func submitWrite(_ work: @escaping @Sendable (Database) throws -> Bool) async throws -> Bool {
        try await submit { db in SubscriberStore.ApplyResult(changed: try work(db) ? 1 : 0) }.changed == 1
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
                item.continuation.resume(with: Result { try writer.write { try item.work($0, recordedAt) } })
            }
        }
    }
}
