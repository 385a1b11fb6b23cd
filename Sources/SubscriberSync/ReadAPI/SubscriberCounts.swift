import Synchronization

/// Subscriber counts for `SubscriberNum`, counted at most once per `maxAge` per account: a count
/// reads every subscription of the account (a third of a second for a million on SQLite), which
/// even once a second would take a third of a listing's time. Concurrent callers share one count
/// in flight.
///
/// A count older than `maxAge` is still answered at once while a new one runs in the
/// background, up to `staleLimit`: otherwise a page of a long listing would wait for a recount
/// every `maxAge`. Past `staleLimit` (or when the account was never counted) callers wait.
final class SubscriberCounts: Sendable {
    private struct Counted {
        var count: Int
        var at: ContinuousClock.Instant
    }

    private let storage: any SubscriberReads
    private let maxAge: Duration
    private let staleLimit: Duration
    private let counted = Mutex<[String: Counted]>([:])
    private let counting = Mutex<[String: Task<Int, any Error>]>([:])
    /// Only held accounts are counted, but a store may hold many: forget all beyond this.
    private static let capacity = 10_000

    init(storage: any SubscriberReads, maxAge: Duration = .seconds(5), staleLimit: Duration = .seconds(30)) {
        self.storage = storage
        self.maxAge = maxAge
        self.staleLimit = max(maxAge, staleLimit)
    }

    func count(account: String) async throws -> Int {
        let now = ContinuousClock.now
        if let known = counted.withLock({ $0[account] }) {
            let age = now - known.at
            if age < maxAge { return known.count }
            if age < staleLimit {
                _ = recount(account)
                return known.count
            }
        }
        return try await recount(account).value
    }

    /// The count in flight for `account`, started if there is none. It records its result
    /// itself, so a count nobody waits for still refreshes the cache.
    private func recount(_ account: String) -> Task<Int, any Error> {
        counting.withLock { tasks in
            if let running = tasks[account] { return running }
            let task = Task { [self] in
                defer { _ = counting.withLock { $0.removeValue(forKey: account) } }
                let started = ContinuousClock.now
                let count = try await storage.subscriberCount(account: account)
                counted.withLock { counted in
                    if counted.count >= Self.capacity { counted.removeAll(keepingCapacity: true) }
                    counted[account] = Counted(count: count, at: started)
                }
                return count
            }
            tasks[account] = task
            return task
        }
    }
}
