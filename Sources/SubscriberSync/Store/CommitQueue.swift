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
    /// Each work item runs in its own savepoint, so one failing item does not undo its batch-mates.
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
        let outcomes: [Result<SubscriberStore.ApplyResult, any Error>]
        do {
            outcomes = try await writer.write { db in
                var outcomes: [Result<SubscriberStore.ApplyResult, any Error>] = []
                outcomes.reserveCapacity(batch.count)
                for item in batch {
                    do {
                        var result = SubscriberStore.ApplyResult()
                        try db.inSavepoint {
                            result = try item.work(db)
                            return .commit
                        }
                        outcomes.append(.success(result))
                    } catch {
                        outcomes.append(.failure(error))
                    }
                }
                return outcomes
            }
        } catch {
            for item in batch { item.continuation.resume(throwing: error) }
            return
        }
        for (item, outcome) in zip(batch, outcomes) {
            item.continuation.resume(with: outcome)
        }
    }
}
