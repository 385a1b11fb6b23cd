import Synchronization

/// Subscriber counts for `SubscriberNum`. A count reads every subscription of the account: a
/// third of a second for a million on SQLite, which on every page would take most of a listing's
/// time. So a count is reused for twenty times as long as it took (counting then costs at most a
/// twentieth of the time), and never longer than `maxAge`:
/// an ordinary account is counted again within milliseconds, a million-subscriber one every few
/// seconds at most. Concurrent callers share one count in flight.
///
/// Only a slow count (over `slowCount`) is answered stale while a recount runs, up to
/// `staleLimit`, so that a page of a long listing does not wait for it; a fast one is waited for.
final class SubscriberCounts: Sendable {
    private struct Counted {
        var count: Int
        var at: ContinuousClock.Instant
        var took: Duration
    }

    private let storage: any SubscriberReads
    private let maxAge: Duration
    private let reusePerCountTime: Int
    private let slowCount: Duration
    private let staleLimit: Duration
    private let counted = Mutex<[String: Counted]>([:])
    private let counting = Mutex<[String: Task<Int, any Error>]>([:])
    /// Only held accounts are counted, but a store may hold many: forget all beyond this.
    private static let capacity = 10_000

    init(storage: any SubscriberReads, maxAge: Duration = .seconds(5), reusePerCountTime: Int = 20,
         slowCount: Duration = .milliseconds(20), staleLimit: Duration = .seconds(30)) {
        self.storage = storage
        self.maxAge = maxAge
        self.reusePerCountTime = reusePerCountTime
        self.slowCount = slowCount
        self.staleLimit = max(maxAge, staleLimit)
    }

    func count(account: String) async throws -> Int {
        let now = ContinuousClock.now
        if let known = counted.withLock({ $0[account] }) {
            let age = now - known.at
            if age < min(maxAge, known.took * reusePerCountTime) { return known.count }
            if known.took >= slowCount, age < staleLimit {
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
                    counted[account] = Counted(count: count, at: started, took: started.duration(to: .now))
                }
                return count
            }
            tasks[account] = task
            return task
        }
    }
}
