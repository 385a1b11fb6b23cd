import Testing
@testable import SubscriberSync

/// `SubscriberNum`'s counts over a real store: reused for a while that grows with the time a count
/// takes (at most `maxAge`), a slow one answered stale while a recount runs up to `staleLimit`, and
/// a fast one, or one past `staleLimit`, waited for.
@Suite struct SubscriberCountsTests {
    let account = "@TOA#_counted"

    @Test func aFreshCountIsReusedWithinMaxAge() async throws {
        let store = try await StorageEngine.sqlite.makeStore()
        try await store.subscribe(account, ["a", "b"], at: 100)
        let counts = SubscriberCounts(storage: store.storage, maxAge: .seconds(3600), reusePerCountTime: 1_000_000_000)
        #expect(try await counts.count(account: account) == 2)
        try await store.subscribe(account, ["c"], at: 200)
        #expect(try await counts.count(account: account) == 2, "counted less than maxAge ago")
    }

    @Test func anOldCountIsAnsweredAtOnceWhileARecountRuns() async throws {
        let store = try await StorageEngine.sqlite.makeStore()
        try await store.subscribe(account, ["a", "b"], at: 100)
        let counts = SubscriberCounts(storage: store.storage, maxAge: .zero, slowCount: .zero, staleLimit: .seconds(3600))
        #expect(try await counts.count(account: account) == 2)
        try await store.subscribe(account, ["c"], at: 200)
        #expect(try await counts.count(account: account) == 2, "the previous count, while the recount runs")
        // The recount records its result by itself; each call starts at most one more.
        let deadline = ContinuousClock.now + .seconds(30)
        var latest = 2
        while latest != 3, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
            latest = try await counts.count(account: account)
        }
        #expect(latest == 3)
    }

    /// Counting a small account takes microseconds: its count is current, never a stale one.
    /// (Here every count is taken as fast: a loaded test machine can take 20 ms over any.)
    @Test func aFastCountIsCountedAgainAndWaitedFor() async throws {
        let store = try await StorageEngine.sqlite.makeStore()
        try await store.subscribe(account, ["a", "b"], at: 100)
        let counts = SubscriberCounts(storage: store.storage, maxAge: .seconds(3600), reusePerCountTime: 0, slowCount: .seconds(3600))
        #expect(try await counts.count(account: account) == 2)
        try await store.subscribe(account, ["c"], at: 200)
        #expect(try await counts.count(account: account) == 3)
    }

    @Test func pastTheStaleLimitCallersWaitForAFreshCount() async throws {
        let store = try await StorageEngine.sqlite.makeStore()
        try await store.subscribe(account, ["a", "b"], at: 100)
        let counts = SubscriberCounts(storage: store.storage, maxAge: .zero, slowCount: .zero, staleLimit: .zero)
        #expect(try await counts.count(account: account) == 2)
        try await store.subscribe(account, ["c"], at: 200)
        #expect(try await counts.count(account: account) == 3)
        #expect(try await counts.count(account: "@TOA#_unknown") == 0)
    }
}
