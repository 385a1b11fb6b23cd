import Synchronization

/// Subscriber counts for `SubscriberNum`, counted at most once per `maxAge` per account: a count
/// reads every subscription of the account (a third of a second for a million on SQLite), which
/// even once a second would take a third of a listing's time. Concurrent callers share one count
/// in flight.
final class SubscriberCounts: Sendable {
    private struct Counted {
        var count: Int
        var at: ContinuousClock.Instant
    }

    private let storage: any SubscriberReads
    private let maxAge: Duration
    private let counted = Mutex<[String: Counted]>([:])
    private let counting = Mutex<[String: Task<Int, any Error>]>([:])
    /// Only held accounts are counted, but a store may hold many: forget all beyond this.
    private static let capacity = 10_000

    init(storage: any SubscriberReads, maxAge: Duration = .seconds(5)) {
        self.storage = storage
        self.maxAge = maxAge
    }

    func count(account: String) async throws -> Int {
        let now = ContinuousClock.now
        if let known = counted.withLock({ $0[account] }), now - known.at < maxAge {
            return known.count
        }
        let storage = self.storage
        let (task, started) = counting.withLock { tasks -> (Task<Int, any Error>, Bool) in
            if let running = tasks[account] { return (running, false) }
            let task = Task { try await storage.subscriberCount(account: account) }
            tasks[account] = task
            return (task, true)
        }
        defer {
            if started { _ = counting.withLock { $0.removeValue(forKey: account) } }
        }
        let count = try await task.value
        if started {
            counted.withLock { counted in
                if counted.count >= Self.capacity { counted.removeAll(keepingCapacity: true) }
                counted[account] = Counted(count: count, at: now)
            }
        }
        return count
    }
}
