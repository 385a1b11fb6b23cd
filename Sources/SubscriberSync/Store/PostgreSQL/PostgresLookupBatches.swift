import Synchronization

/// Point lookups that arrive together share one statement, as callbacks share a commit.
///
/// Alone, a lookup cost the service about 280 µs of CPU and the server 177 µs (a pool lease, a
/// deadline's timer, a round trip with its thread hops, and the statement's own overhead), for
/// an index probe of a few microseconds. Under load, lookups queue while a batch runs and go
/// together in the next: each still gets the answer of one statement, so one snapshot, as the
/// `SubscriberReads` contract asks.
final class PostgresLookupBatches: Sendable {
    struct Pair: Sendable {
        var account: String
        var subscriber: String
    }

    private struct Waiting {
        var id: UInt64
        var pair: Pair
        var continuation: CheckedContinuation<SubscriptionLookup, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var inFlight = 0
        var nextID: UInt64 = 0
    }

    /// Batches in flight at once (measured at 64 connections on 2 cores: one or two alike, four
    /// 15% slower); a second keeps lookups moving past a slow batch.
    private let maxInFlight: Int
    /// Pairs per statement.
    private let maxBatch: Int
    private let state = Mutex(State())

    init(maxInFlight: Int = 2, maxBatch: Int = 256) {
        precondition(maxInFlight > 0 && maxBatch > 0)
        self.maxInFlight = maxInFlight
        self.maxBatch = maxBatch
    }

    /// The lookup of one pair, made by `run` together with whatever others are waiting. `run`
    /// answers a batch in the order of its pairs; its error is every waiting lookup's. A lookup
    /// cancelled while it waits leaves the queue at once (its client is gone), so it takes no
    /// place in a batch; once its batch runs, it gets that batch's answer.
    func lookup(_ pair: Pair, run: @escaping @Sendable ([Pair]) async throws -> [SubscriptionLookup]) async throws -> SubscriptionLookup {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let leads = state.withLock { state -> Bool? in
                    // Checked under the lock the handler takes: either it already ran (and the
                    // task shows cancelled here) or it will find this lookup queued.
                    guard !Task.isCancelled else { return nil }
                    state.waiting.append(Waiting(id: id, pair: pair, continuation: continuation))
                    guard state.inFlight < maxInFlight else { return false }
                    state.inFlight += 1
                    return true
                }
                switch leads {
                case nil: continuation.resume(throwing: CancellationError())
                case true?: Task { await drain(run) }
                case false?: break
                }
            }
        } onCancel: {
            let removed = state.withLock { state -> Waiting? in
                guard let index = state.waiting.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiting.remove(at: index)
            }
            removed?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Runs batches until nobody waits.
    private func drain(_ run: @Sendable ([Pair]) async throws -> [SubscriptionLookup]) async {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                guard state.waiting.count > maxBatch else {
                    if state.waiting.isEmpty { state.inFlight -= 1 }
                    defer { state.waiting = [] }
                    return state.waiting
                }
                defer { state.waiting.removeFirst(maxBatch) }
                return Array(state.waiting.prefix(maxBatch))
            }
            guard !batch.isEmpty else { return }
            do {
                let answers = try await run(batch.map(\.pair))
                guard answers.count == batch.count else { throw BatchMismatch(asked: batch.count, answered: answers.count) }
                for (waiting, answer) in zip(batch, answers) { waiting.continuation.resume(returning: answer) }
            } catch {
                // A failed batch means trouble with the database (a batch of valid IDs cannot be
                // refused for one of them): those queued meanwhile fail with it rather than each
                // waiting out another deadline, so an outage answers every lookup within one.
                let queued = state.withLock { state in
                    defer { state.waiting = [] }
                    return state.waiting
                }
                for waiting in batch + queued { waiting.continuation.resume(throwing: error) }
            }
        }
    }

    /// Lookups waiting for a batch (for tests).
    var queued: Int { state.withLock { $0.waiting.count } }

    private struct BatchMismatch: Error, CustomStringConvertible {
        var asked: Int
        var answered: Int
        var description: String { "a batch of \(asked) lookups got \(answered) answers" }
    }
}
