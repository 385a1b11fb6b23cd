import GRDB
import Synchronization

/// Group commit: callbacks that arrive while a transaction is committing wait together and share
/// the next one, so one fsync acknowledges many callbacks. SQLite has no group commit of its own,
/// and one fsync per callback caps durable ingest at a few thousand per second.
public final class CommitQueue: Sendable {
    public typealias Work = @Sendable (Database) throws -> SubscriberStore.ApplyResult

    private struct Pending: Sendable {
        var work: Work
        var continuation: CheckedContinuation<SubscriberStore.ApplyResult, any Error>
    }

    private struct State: Sendable {
        var pending: [Pending] = []
        var draining = false
    }

    private let writer: any DatabaseWriter
    private let state = Mutex(State())
    private let maxBatch: Int

    public init(writer: any DatabaseWriter, maxBatch: Int = 512) {
        self.writer = writer
        self.maxBatch = maxBatch
    }

    /// Runs `work` in a shared write transaction and returns once that transaction has committed.
    /// When an item fails, the batch is retried item by item, so one failing item does not undo
    /// its batch-mates.
    public func submit(_ work: @escaping Work) async throws -> SubscriberStore.ApplyResult {
        try await withCheckedThrowingContinuation { continuation in
            let startDrain = state.withLock { state in
                state.pending.append(Pending(work: work, continuation: continuation))
                if state.draining { return false }
                state.draining = true
                return true
            }
            if startDrain {
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while true {
            let batch: [Pending] = state.withLock { state in
                if state.pending.isEmpty {
                    state.draining = false
                    return []
                }
                let count = min(state.pending.count, maxBatch)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                return batch
            }
            if batch.isEmpty { return }
            await commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) async {
        do {
            let results = try await writer.write { db in try batch.map { try $0.work(db) } }
            for (item, result) in zip(batch, results) { item.continuation.resume(returning: result) }
        } catch {
            // One item failed and took its batch-mates' transaction with it: give each its own,
            // so that only the failing one is refused. Rare, so the common path pays for no
            // savepoints.
            for item in batch {
                do {
                    item.continuation.resume(returning: try await writer.write { try item.work($0) })
                } catch {
                    item.continuation.resume(throwing: error)
                }
            }
        }
    }
}
