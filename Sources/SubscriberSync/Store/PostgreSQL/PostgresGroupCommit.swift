import Logging
import PostgresNIO
import Synchronization

/// Group commit on PostgreSQL: callbacks that arrive while earlier batches are committing share
/// the next transaction, so many callbacks cost one commit (and one WAL flush, with
/// `synchronous_commit` on). A few batches commit at once on separate connections.
///
/// A batch that fails on a server error (not a lost connection) is retried one change per
/// transaction, so a failing change never undoes another. Deadlocks and serialisation failures
/// between concurrent batches (of this replica or another) retry the whole batch.
final class PostgresGroupCommit: Sendable {
    private struct Pending: Sendable {
        let change: PreparedChange
        let continuation: CheckedContinuation<ApplyResult, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var inFlight = 0
    }

    private let state = Mutex(State())
    private let pool: PostgresConnectionPool
    private let rules: PostgresSubscriberRules
    private let clock: any WallClock
    private let logger: Logger
    static let maxInFlight = 4
    static let maxBatch = 512

    private let batchPatience: Duration

    init(pool: PostgresConnectionPool, rules: PostgresSubscriberRules, clock: any WallClock, logger: Logger, batchPatience: Duration) {
        self.batchPatience = batchPatience
        self.pool = pool
        self.rules = rules
        self.clock = clock
        self.logger = logger
    }

    func submit(_ change: PreparedChange) async throws -> ApplyResult {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.pending.append(Pending(change: change, continuation: continuation))
                guard state.inFlight < Self.maxInFlight else { return false }
                state.inFlight += 1
                return true
            }
            if start { Task { await self.drain() } }
        }
    }

    /// Commits batches until nothing is pending.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                let batch = Array(state.pending.prefix(Self.maxBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty { state.inFlight -= 1 }
                return batch
            }
            guard !batch.isEmpty else { return }
            await commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) async {
        do {
            let results = try await transaction(batch.map(\.change))
            for (pending, result) in zip(batch, results) { pending.continuation.resume(returning: result) }
        } catch where batch.count > 1 && PostgresFailure.isStatementError(error) {
            for pending in batch {
                do {
                    pending.continuation.resume(returning: try await transaction([pending.change])[0])
                } catch {
                    pending.continuation.resume(throwing: PostgresFailure(error))
                }
            }
        } catch {
            let failure = PostgresFailure(error)
            for pending in batch { pending.continuation.resume(throwing: failure) }
        }
    }

    private func transaction(_ changes: [PreparedChange]) async throws -> [ApplyResult] {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let recordedAt = clock.nowMilliseconds()
                let (pool, rules, logger, batchPatience) = (self.pool, self.rules, self.logger, self.batchPatience)
                // A batch stuck on a dead connection must not hold its slot: the callers get their
                // 503 and later batches go on (on a new client once the pool is recycled).
                return try await Deadline.run("committing a batch of callbacks", within: batchPatience) {
                    try await pool.client().withTransaction(logger: logger) { connection in
                        try await rules.apply(batch: changes, recordedAt: recordedAt, on: connection)
                    }
                }
            } catch where attempt < 8 && PostgresFailure.isConflict(error) {
                continue
            } catch {
                if PostgresFailure.isUnreachable(error) { pool.recycle() }
                throw error
            }
        }
    }
}
