import Testing
@testable import SubscriberSync

/// `SubscriberNum`'s counts over a real store: cached for `maxAge`, answered stale while a
/// recount runs up to `staleLimit`, and waited for beyond it.
@Suite struct SubscriberCountsTests {
    let account = "@TOA#_counted"

    @Test func aFreshCountIsReusedWithinMaxAge() async throws {
        let store = try await StorageEngine.sqlite.makeStore()
        try await store.subscribe(account, ["a", "b"], at: 100)
        let counts = SubscriberCounts(storage: store.storage, maxAge: .seconds(3600))
        #expect(try await counts.count(account: account) == 2)
        try await store.subscribe(account, ["c"], at: 200)
        #expect(try await counts.count(account: account) == 2, "counted less than maxAge ago")
    }

    @Test func anOldCountIsAnsweredAtOnceWhileARecountRuns() async throws {
        let store = try await StorageEngine.sqlite.makeStore()
        try await store.subscribe(account, ["a", "b"], at: 100)
        let counts = SubscriberCounts(storage: store.storage, maxAge: .zero, staleLimit: .seconds(3600))
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

    @Test func pastTheStaleLimitCallersWaitForAFreshCount() async throws {
        let store = try await StorageEngine.sqlite.makeStore()
        try await store.subscribe(account, ["a", "b"], at: 100)
        let counts = SubscriberCounts(storage: store.storage, maxAge: .zero, staleLimit: .zero)
        #expect(try await counts.count(account: account) == 2)
        try await store.subscribe(account, ["c"], at: 200)
        #expect(try await counts.count(account: account) == 3)
        #expect(try await counts.count(account: "@TOA#_unknown") == 0)
    }
}
