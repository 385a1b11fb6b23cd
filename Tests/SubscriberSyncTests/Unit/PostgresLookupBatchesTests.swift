import Synchronization
import Testing
@testable import SubscriberSync

/// The batching of PostgreSQL point lookups, with a stand-in for the statement: lookups that
/// arrive while a batch runs go together in the next, each gets its own answer, and a failed
/// batch fails its lookups and those queued meanwhile, after which lookups work again.
@Suite struct PostgresLookupBatchesTests {
    typealias Pair = PostgresLookupBatches.Pair

    /// Answers each pair with its subscriber (a number) as the sequence, recording each batch;
    /// the first batch waits for `gate`.
    final class Statement: Sendable {
        let batches = Mutex<[[String]]>([])
        let gate: AsyncStream<Void>
        let open: AsyncStream<Void>.Continuation
        let failFirst: Bool
        let answerCount: (@Sendable (Int) -> Int)?

        init(failFirst: Bool = false, answerCount: (@Sendable (Int) -> Int)? = nil) {
            (gate, open) = AsyncStream<Void>.makeStream()
            self.failFirst = failFirst
            self.answerCount = answerCount
        }

        func run(_ pairs: [Pair]) async throws -> [SubscriptionLookup] {
            let first = batches.withLock { batches in
                batches.append(pairs.map(\.subscriber))
                return batches.count == 1
            }
            if first {
                for await _ in gate { break }
                if failFirst { throw Failure() }
            }
            let answers = pairs.map { SubscriptionLookup(sequence: Int64($0.subscriber)!, accountHeld: true, record: nil) }
            return Array(answers.prefix(answerCount?(pairs.count) ?? pairs.count))
        }
    }

    struct Failure: Error {}

    /// Starts a lookup of `subscriber` and waits until it is running or queued.
    func start(_ subscriber: String, on batches: PostgresLookupBatches, statement: Statement, queued: Int) async throws
        -> Task<SubscriptionLookup, any Error> {
        let task = Task { try await batches.lookup(Pair(account: "@TOA#_a", subscriber: subscriber)) { try await statement.run($0) } }
        try #require(await waitUntil(timeout: .seconds(30), interval: .milliseconds(2)) { batches.queued == queued },
                     "lookup \(subscriber) queued")
        return task
    }

    /// Starts the lookup of "1" and waits until its batch runs (held by the statement's gate).
    func startFirst(on batches: PostgresLookupBatches, statement: Statement) async throws -> Task<SubscriptionLookup, any Error> {
        let first = Task { try await batches.lookup(Pair(account: "@TOA#_a", subscriber: "1")) { try await statement.run($0) } }
        try #require(await waitUntil(timeout: .seconds(30), interval: .milliseconds(2)) { statement.batches.withLock { $0.count } == 1 })
        return first
    }

    @Test func lookupsQueuedDuringABatchGoTogetherAndEachGetsItsOwnAnswer() async throws {
        let batches = PostgresLookupBatches(maxInFlight: 1, maxBatch: 3)
        let statement = Statement()
        let first = try await startFirst(on: batches, statement: statement)
        var rest: [Task<SubscriptionLookup, any Error>] = []
        for n in 2...6 { rest.append(try await start(String(n), on: batches, statement: statement, queued: n - 1)) }
        statement.open.yield()
        #expect(try await first.value.sequence == 1)
        for (offset, task) in rest.enumerated() { #expect(try await task.value.sequence == Int64(offset + 2)) }
        #expect(statement.batches.withLock { $0 } == [["1"], ["2", "3", "4"], ["5", "6"]])
        #expect(batches.queued == 0)
    }

    @Test(.timeLimit(.minutes(1))) func aLookupCancelledWhileQueuedLeavesTheQueueAndTakesNoPlaceInABatch() async throws {
        let batches = PostgresLookupBatches(maxInFlight: 1, maxBatch: 3)
        let statement = Statement()
        let first = try await startFirst(on: batches, statement: statement)
        var queued: [Task<SubscriptionLookup, any Error>] = []
        for n in 2...4 { queued.append(try await start(String(n), on: batches, statement: statement, queued: n - 1)) }
        queued[1].cancel()
        await #expect(throws: CancellationError.self) { try await queued[1].value }
        #expect(batches.queued == 2)
        statement.open.yield()
        #expect(try await first.value.sequence == 1)
        #expect(try await queued[0].value.sequence == 2)
        #expect(try await queued[2].value.sequence == 4)
        #expect(statement.batches.withLock { $0 } == [["1"], ["2", "4"]])
        let cancelledBeforeItStarts = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await batches.lookup(Pair(account: "@TOA#_a", subscriber: "5")) { try await statement.run($0) }
        }
        await #expect(throws: CancellationError.self) { try await cancelledBeforeItStarts.value }
        #expect(batches.queued == 0 && statement.batches.withLock { $0.count } == 2)
    }

    @Test func aFailedBatchFailsItsLookupsAndThoseQueuedThenLookupsWorkAgain() async throws {
        let batches = PostgresLookupBatches(maxInFlight: 1, maxBatch: 3)
        let statement = Statement(failFirst: true)
        let first = try await startFirst(on: batches, statement: statement)
        var queued: [Task<SubscriptionLookup, any Error>] = []
        for n in 2...5 { queued.append(try await start(String(n), on: batches, statement: statement, queued: n - 1)) }
        statement.open.yield()
        await #expect(throws: Failure.self) { try await first.value }
        for task in queued { await #expect(throws: Failure.self) { try await task.value } }
        #expect(statement.batches.withLock { $0.count } == 1, "the queued lookups failed with the batch, without a batch of their own")
        let after = try await batches.lookup(Pair(account: "@TOA#_a", subscriber: "7")) { try await statement.run($0) }
        #expect(after.sequence == 7)
    }

    @Test func aBatchAnsweredWithTheWrongCountFailsRatherThanMisanswer() async throws {
        let batches = PostgresLookupBatches(maxInFlight: 1, maxBatch: 3)
        let statement = Statement(answerCount: { $0 - 1 })
        statement.open.yield()
        await #expect(throws: (any Error).self) {
            try await batches.lookup(Pair(account: "@TOA#_a", subscriber: "1")) { try await statement.run($0) }
        }
    }
}
