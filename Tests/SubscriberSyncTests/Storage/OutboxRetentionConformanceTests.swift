import Foundation
import Testing
@testable import SubscriberSync

/// Outbox retention (`deleteEmittedEvents`, `oldestRetainedSequence`) on every engine.
@Suite("Outbox retention conformance") struct OutboxRetentionConformanceTests {
    let account = "@TOA#_retained"

    @Test(arguments: StorageEngine.allCases)
    func onlyOldEmittedEventsGoAndNumbersGoOn(engine: StorageEngine) async throws {
        let clock = FakeClock()
        let store = try await engine.makeStore(clock: clock)
        #expect(try await store.storage.oldestRetainedSequence() == nil)
        try await store.subscribe(account, ["a", "b", "c"], at: 100)      // 1...3, recorded at T
        clock.advance(milliseconds: 10_000)
        try await store.subscribe(account, ["d", "e"], at: 200)           // 4...5, recorded at T + 10 s
        let recordedLate = clock.nowMilliseconds()
        let lease = try #require(try await store.storage.acquireEmitterLease(holder: "a", durationMilliseconds: 60_000))
        #expect(try await store.storage.nextEvents(for: lease, limit: 100).events.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(try await store.storage.oldestRetainedSequence() == 1)

        // Emitted through 2 only: 3 stays although it is as old.
        #expect(try await store.storage.advanceCheckpoint(to: 2, for: lease))
        #expect(try await store.storage.deleteEmittedEvents(recordedBefore: recordedLate, window: 500, for: lease) == 2)
        #expect(try await store.storage.oldestRetainedSequence() == 3)
        #expect(try await store.storage.events(in: 1...5, limit: 100).map(\.sequence) == [3, 4, 5])

        // Everything emitted and old: all but the newest go, in windows of the oldest rows.
        #expect(try await store.storage.advanceCheckpoint(to: 5, for: lease))
        #expect(try await store.storage.deleteEmittedEvents(recordedBefore: recordedLate, window: 500, for: lease) == 1,
                "4 and 5 are younger than the cutoff")
        #expect(try await store.storage.deleteEmittedEvents(recordedBefore: recordedLate + 1, window: 1, for: lease) == 1)
        #expect(try await store.storage.deleteEmittedEvents(recordedBefore: recordedLate + 1, window: 500, for: lease) == 0,
                "the newest is kept")
        #expect(try await store.storage.oldestRetainedSequence() == 5)

        // Numbers go on from the newest, without a gap.
        try await store.subscribe(account, ["f"], at: 300)
        #expect(try await store.storage.nextEvents(for: lease, limit: 100).events.map(\.sequence) == [6])
        #expect(try await store.storage.events(in: 1...10, limit: 100).map(\.sequence) == [5, 6])
    }

    @Test(arguments: StorageEngine.allCases)
    func aHolderThatLostTheLeaseDeletesNothing(engine: StorageEngine) async throws {
        let clock = FakeClock()
        let store = try await engine.makeStore(clock: clock)
        try await store.subscribe(account, ["a", "b", "c"], at: 100)
        let first = try #require(try await store.storage.acquireEmitterLease(holder: "a", durationMilliseconds: 6_000))
        _ = try await store.storage.nextEvents(for: first, limit: 100)
        #expect(try await store.storage.advanceCheckpoint(to: 3, for: first))
        clock.advance(milliseconds: 7_000)
        _ = try #require(try await store.storage.acquireEmitterLease(holder: "b", durationMilliseconds: 6_000))
        #expect(try await store.storage.deleteEmittedEvents(recordedBefore: clock.nowMilliseconds(), window: 500, for: first) == 0)
        #expect(try await store.storage.oldestRetainedSequence() == 1)
    }
}
