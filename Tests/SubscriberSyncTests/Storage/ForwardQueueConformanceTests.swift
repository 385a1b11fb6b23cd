import Foundation
import NIOCore
import Testing
@testable import SubscriberSync

/// The forward queue (`ForwardQueue`) on every engine, through `SubscriberStorage` only.
@Suite("Forward queue conformance") struct ForwardQueueConformanceTests {
    let account = "@TOA#_relay"

    static func job(_ target: String, _ body: [UInt8], at receivedAt: Int64 = 1_000, command: String = "C2C.CallbackAfterSendMsg") -> ForwardJob {
        ForwardJob(target: target, delivery: UUID().uuidString, command: command, query: "SdkAppid=1&CallbackCommand=\(command)",
                   contentType: "application/json", body: ByteBuffer(bytes: body), receivedAt: receivedAt)
    }

    static func bodies(_ jobs: [ForwardJob]) -> [[UInt8]] { jobs.map { Array(buffer: $0.body) } }

    /// `nextForwards` once `count` jobs are visible: on PostgreSQL a job shows only when every
    /// older transaction of its store has ended.
    static func next(_ store: TestStore, _ target: String, limit: Int = 1_000, count: Int) async throws -> [ForwardJob] {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            let jobs = try await store.storage.nextForwards(target: target, limit: limit)
            if jobs.count >= count || ContinuousClock.now >= deadline { return jobs }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test(arguments: StorageEngine.allCases)
    func jobsCommitWithTheirChangeAndComeBackInOrder(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        let binary: [UInt8] = [0x00, 0xFF, 0x7B, 0xC3, 0x28]
        let subscribe = StoreChange.subscribers(SubscriberFacts(.subscribed, account: account, subscribers: ["a"], version: 100))
        let result = try await store.storage.commit(CallbackWrite(change: subscribe, forwards: [Self.job("http://a/", binary), Self.job("http://b/", [1])]))
        #expect(result == ApplyResult(changed: 1, ignored: 0))
        #expect(try await store.storage.commit(CallbackWrite(change: nil, forwards: [Self.job("http://a/", [2])])) == ApplyResult())
        #expect(try await store.subscribed(account) == ["a"])

        let first = try await Self.next(store, "http://a/", count: 2)
        try #require(first.count == 2)
        #expect(Self.bodies(first) == [binary, [2]], "byte for byte, in commit order")
        #expect(first[0].query == "SdkAppid=1&CallbackCommand=C2C.CallbackAfterSendMsg")
        #expect(first[0].contentType == "application/json")
        #expect(first[0].attempts == 0 && first[0].nextAttemptAt == 0)
        #expect(first[0].id != first[1].id)
        #expect(Self.bodies(try await Self.next(store, "http://b/", count: 1)) == [[1]])
        #expect(Self.bodies(try await Self.next(store, "http://a/", limit: 1, count: 1)) == [binary])
        #expect(try await store.storage.forwardTargets().map { [$0.target, "\($0.pending)", "\($0.dead)"] }
                == [["http://a/", "2", "0"], ["http://b/", "1", "0"]])
    }

    @Test(arguments: StorageEngine.allCases)
    func concurrentCallbacksQueueEveryJobOnce(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await withThrowingTaskGroup(of: ApplyResult.self) { group in
            for number in 0..<200 {
                group.addTask {
                    let change = number % 3 == 0 ? nil
                        : StoreChange.subscribers(SubscriberFacts(.subscribed, account: account, subscribers: ["s\(number)"], version: 100))
                    return try await store.storage.commit(CallbackWrite(change: change, forwards: [Self.job("http://a/", Array("\(number)".utf8))]))
                }
            }
            for try await _ in group {}
        }
        let jobs = try await Self.next(store, "http://a/", count: 200)
        #expect(Set(Self.bodies(jobs).map { String(decoding: $0, as: UTF8.self) }) == Set((0..<200).map(String.init)))
        #expect(jobs.count == 200)
        #expect(try await store.subscribed(account).count == 133)
    }

    @Test(arguments: StorageEngine.allCases)
    func theLeaseFencesAHolderThatLostIt(engine: StorageEngine) async throws {
        let clock = FakeClock()
        let store = try await engine.makeStore(clock: clock)
        _ = try await store.storage.commit(CallbackWrite(change: nil, forwards: [Self.job("http://a/", [1]), Self.job("http://a/", [2])]))
        let first = try #require(try await store.storage.acquireForwarderLease(holder: "one", durationMilliseconds: 6_000))
        #expect(try await store.storage.acquireForwarderLease(holder: "two", durationMilliseconds: 6_000) == nil)
        let renewed = try #require(try await store.storage.acquireForwarderLease(holder: "one", durationMilliseconds: 6_000))
        #expect(renewed.epoch == first.epoch, "a renewal keeps the epoch")

        let jobs = try await Self.next(store, "http://a/", count: 2)
        try #require(jobs.count == 2)
        #expect(try await store.storage.completeForwards([jobs[0].id], for: first))
        clock.advance(milliseconds: 6_001)
        let second = try #require(try await store.storage.acquireForwarderLease(holder: "two", durationMilliseconds: 6_000))
        #expect(second.epoch > first.epoch)
        #expect(try await !store.storage.completeForwards([jobs[1].id], for: first), "the old holder changes nothing")
        #expect(try await !store.storage.postponeForward(jobs[1].id, attempts: 1, nextAttemptAt: 5, error: "x", for: first))
        #expect(try await store.storage.deadLetterForwards(target: "http://a/", receivedBefore: .max, at: 1, error: "x", for: first) == nil)
        #expect(Self.bodies(try await store.storage.nextForwards(target: "http://a/", limit: 10)) == [[2]])
        try await store.storage.releaseForwarderLease(first)
        #expect(try await store.storage.acquireForwarderLease(holder: "one", durationMilliseconds: 6_000) == nil, "releasing a lost lease frees nothing")
        try await store.storage.releaseForwarderLease(second)
        #expect(try await store.storage.acquireForwarderLease(holder: "one", durationMilliseconds: 6_000) != nil)
    }

    @Test(arguments: StorageEngine.allCases)
    func postponedThenDeadThenRetriedInOrder(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        _ = try await store.storage.commit(CallbackWrite(change: nil, forwards: [Self.job("http://a/", [1], at: 1_000), Self.job("http://b/", [9], at: 1_000)]))
        _ = try await store.storage.commit(CallbackWrite(change: nil, forwards: [Self.job("http://a/", [2], at: 2_000)]))
        _ = try await store.storage.commit(CallbackWrite(change: nil, forwards: [Self.job("http://a/", [3], at: 9_000)]))
        let lease = try #require(try await store.storage.acquireForwarderLease(holder: "one", durationMilliseconds: 60_000))
        let head = try #require(try await Self.next(store, "http://a/", count: 3).first)
        #expect(try await store.storage.postponeForward(head.id, attempts: 3, nextAttemptAt: 5_000, error: "answered HTTP 503", for: lease))
        let postponed = try #require(try await store.storage.nextForwards(target: "http://a/", limit: 1).first)
        #expect(postponed.attempts == 3 && postponed.nextAttemptAt == 5_000)
        let summary = try #require(try await store.storage.forwardTargets().first { $0.target == "http://a/" })
        #expect(summary == ForwardTargetSummary(target: "http://a/", pending: 3, dead: 0, oldestPendingAt: 1_000, headAttempts: 3,
                                                headNextAttemptAt: 5_000, headLastError: "answered HTTP 503"))

        // Jobs received before 3 000 die; the newer one and the other target's stay.
        #expect(try await store.storage.deadLetterForwards(target: "http://a/", receivedBefore: 3_000, at: 10_000, error: "too old", for: lease) == 2)
        #expect(Self.bodies(try await store.storage.nextForwards(target: "http://a/", limit: 10)) == [[3]])
        #expect(Self.bodies(try await store.storage.nextForwards(target: "http://b/", limit: 10)) == [[9]])
        let dead = try #require(try await store.storage.forwardTargets().first { $0.target == "http://a/" })
        #expect(dead.pending == 1 && dead.dead == 2 && dead.oldestPendingAt == 9_000)

        #expect(try await store.storage.retryDeadForwards(target: "http://b/") == 0)
        #expect(try await store.storage.retryDeadForwards(target: "http://a/") == 2)
        let retried = try await store.storage.nextForwards(target: "http://a/", limit: 10)
        #expect(Self.bodies(retried) == [[1], [2], [3]], "queued again in their original order")
        #expect(retried[0].attempts == 0 && retried[0].nextAttemptAt == 0)
        #expect(try await store.storage.retryDeadForwards(target: nil) == 0)

        // Dropping deletes dead jobs only.
        #expect(try await store.storage.deadLetterForwards(target: "http://a/", receivedBefore: 3_000, at: 10_000, error: "too old", for: lease) == 2)
        #expect(try await store.storage.dropDeadForwards(target: "http://b/") == 0)
        #expect(try await store.storage.dropDeadForwards(target: nil) == 2)
        #expect(Self.bodies(try await store.storage.nextForwards(target: "http://a/", limit: 10)) == [[3]])
        #expect(try await store.storage.forwardTargets().map(\.dead) == [0, 0])
    }
}
