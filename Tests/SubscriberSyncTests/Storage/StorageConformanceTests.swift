import Foundation
import Testing
@testable import SubscriberSync

/// What every storage engine must do, through `SubscriberStorage` only. A second engine passes
/// these unchanged.
@Suite("Storage conformance") struct StorageConformanceTests {
    let account = "@TOA#_shop"

    // MARK: Last writer wins

    @Test(arguments: StorageEngine.allCases)
    func subscribeRecordsOnceAndDuplicatesAreIgnored(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        #expect(try await store.subscribe(account, ["a", "b"], at: 100, operatorAccount: "op") == ApplyResult(changed: 2, ignored: 0))
        #expect(try await store.subscribe(account, ["a", "b"], at: 100, operatorAccount: "op") == ApplyResult(changed: 0, ignored: 2))
        #expect(try await store.subscribed(account) == ["a", "b"])
        let events = try await store.events()
        #expect(events.map(\.summary) == ["subscriber.subscribed a", "subscriber.subscribed b"])
        #expect(events.map(\.sequence) == [1, 2])
        #expect(events[0].json["source"] as? String == "tencent-chat://1400000000/official-accounts/%40TOA%23_shop")
        #expect(events[0].json["time"] as? String == "1970-01-01T00:00:00.100Z")
        #expect(events[0].line.contains(#""data":{"officialAccount":"@TOA#_shop","subscriber":"a","origin":"webhook","operator":"op"}}"#))
        let record = try #require(try await store.record(account, "a"))
        #expect(record.since == 100)
        #expect(record.origin == "webhook")
        #expect(record.fields == .unknown)
    }

    @Test(arguments: StorageEngine.allCases)
    func lateOlderSubscribeCannotResurrectATombstone(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe(account, ["a"], at: 100)
        try await store.unsubscribe(account, ["a"], at: 300)
        #expect(try await store.subscribe(account, ["a"], at: 200) == ApplyResult(changed: 0, ignored: 1))
        #expect(try await store.subscribe(account, ["a"], at: 300) == ApplyResult(changed: 0, ignored: 1), "the tombstone's own time")
        #expect(try await store.subscribed(account).isEmpty)
        #expect(try await store.events().map(\.summary) == ["subscriber.subscribed a", "subscriber.unsubscribed a"])
        #expect(try await store.subscribe(account, ["a"], at: 301) == ApplyResult(changed: 1, ignored: 0), "a newer subscribe resubscribes")
    }

    @Test(arguments: StorageEngine.allCases)
    func reorderedDeliveryEndsInTheSameStateBothWays(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        // An unsubscribe (t=300) delivered before the subscribe (t=100) it follows.
        try await store.unsubscribe(account, ["a"], at: 300)
        #expect(try await store.subscribe(account, ["a"], at: 100) == ApplyResult(changed: 0, ignored: 1))
        #expect(try await store.subscribed(account).isEmpty)
        #expect(try await store.events().isEmpty, "a never-seen subscriber's unsubscribe and an older subscribe record nothing")
        // A subscribe (t=500) delivered before an older unsubscribe (t=400).
        try await store.subscribe(account, ["b"], at: 500)
        #expect(try await store.unsubscribe(account, ["b"], at: 400) == ApplyResult(changed: 0, ignored: 1))
        #expect(try await store.subscribed(account) == ["b"])
        #expect(try await store.events().map(\.summary) == ["subscriber.subscribed b"])
    }

    @Test(arguments: StorageEngine.allCases)
    func equalEventTimeUnsubscribeWinsInEitherOrder(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe(account, ["a"], at: 100)
        try await store.unsubscribe(account, ["a"], at: 100)
        try await store.unsubscribe(account, ["b"], at: 100)
        try await store.subscribe(account, ["b"], at: 100)
        #expect(try await store.subscribed(account).isEmpty)
        #expect(try await store.events().map(\.summary) == ["subscriber.subscribed a", "subscriber.unsubscribed a"])
    }

    @Test(arguments: StorageEngine.allCases)
    func newerSubscribeOnlyMovesTheVersionAndKeepsTheSubscription(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        let fields = SubscriberFields(subscribeTime: 1_698_821_747, msgFlag: "AcceptAndNotify", customString: "vip", lastSendMsgTime: 0)
        try await store.listingPass(account, startedAt: 90, listed: [("a", fields)], requestedAt: 100)
        #expect(try await store.subscribe(account, ["a"], at: 200) == ApplyResult(changed: 0, ignored: 1))
        let record = try #require(try await store.record(account, "a"))
        #expect(record.since == 100)
        #expect(record.fields == fields)
        #expect(record.origin == "reconcile")
        #expect(try await store.events().count == 1)
        // An unsubscribe older than the moved version is stale now.
        #expect(try await store.unsubscribe(account, ["a"], at: 150) == ApplyResult(changed: 0, ignored: 1))
        #expect(try await store.subscribed(account) == ["a"])
    }

    @Test(arguments: StorageEngine.allCases)
    func aResubscriptionStartsWithUnknownFields(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        let fields = SubscriberFields(subscribeTime: 1_698_821_747, msgFlag: "Discard", customString: "old", lastSendMsgTime: 5)
        try await store.listingPass(account, startedAt: 90, listed: [("a", fields)], requestedAt: 100)
        try await store.unsubscribe(account, ["a"], at: 200)
        try await store.subscribe(account, ["a"], at: 300)
        let record = try #require(try await store.record(account, "a"))
        #expect(record.since == 300)
        #expect(record.fields == .unknown)
        #expect(record.origin == "webhook")
        let events = try await store.events()
        #expect(events.map(\.summary) == ["subscriber.subscribed a", "subscriber.unsubscribed a", "subscriber.subscribed a"])
        #expect(events[1].data["msgFlag"] as? String == "Discard", "the unsubscribe carries what was known of the ended subscription")
        #expect(events[2].data["msgFlag"] == nil)
    }

    @Test(arguments: StorageEngine.allCases)
    func destroyedAccountUnsubscribesEveryoneAndKeepsATombstone(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe(account, ["a", "b"], at: 100)
        try await store.subscribe(account, ["late"], at: 900)
        try await store.subscribe("@TOA#_other", ["other"], at: 100)
        #expect(try await store.storage.apply(.accountDestroyed(account: account, at: 500)) == ApplyResult(changed: 2, ignored: 0))
        #expect(try await store.subscribed(account) == ["late"], "a subscribe newer than the destruction stays")
        #expect(try await store.subscribed("@TOA#_other") == ["other"])
        let destroyed = try await store.events().filter { $0.data["origin"] as? String == "account_destroyed" }
        #expect(destroyed.map(\.subject).sorted() == ["a", "b"])
        #expect(destroyed.allSatisfy { $0.type == "subscriber.unsubscribed" && $0.json["time"] as? String == "1970-01-01T00:00:00.500Z" })

        // At or before the destruction nothing changes, even for subscribers never seen.
        #expect(try await store.subscribe(account, ["never-seen", "a"], at: 500) == ApplyResult(changed: 0, ignored: 2))
        #expect(try await store.unsubscribe(account, ["late"], at: 400) == ApplyResult(changed: 0, ignored: 1))
        #expect(try await store.subscribed(account) == ["late"])
        #expect(try await store.storage.apply(.accountDestroyed(account: account, at: 500)) == ApplyResult(changed: 0, ignored: 1))
        // A listing requested at or before the destruction adds nobody either.
        #expect(try await store.listingPass(account, startedAt: 400, listed: [("ghost", .unknown)], requestedAt: 500, remove: false).added == 0)
        // Re-created under the same ID: newer facts apply as usual.
        #expect(try await store.subscribe(account, ["a"], at: 600) == ApplyResult(changed: 1, ignored: 0))
        #expect(try await store.subscribed(account) == ["a", "late"])
        let accounts = try await store.storage.accounts()
        #expect(accounts.first { $0.account == account }?.destroyedAt == 500)
        #expect(accounts.first { $0.account == "@TOA#_other" }?.destroyedAt == nil)
    }

    @Test(arguments: StorageEngine.allCases)
    func aCreationNewerThanTheDestructionMakesTheAccountLiveAgain(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        func record() async throws -> AccountRecord? { try await store.storage.accounts().first { $0.account == account } }
        #expect(try await store.storage.apply(.accountCreated(account: account, at: 100)) == ApplyResult(changed: 1))
        #expect(try await record() == AccountRecord(account: account, destroyedAt: nil, createdAt: 100), "a new account is remembered")
        try await store.subscribe(account, ["a"], at: 200)
        #expect(try await store.storage.apply(.accountDestroyed(account: account, at: 500)) == ApplyResult(changed: 1))
        #expect(try await record()?.isLive == false)

        // At or before the destruction: the newest creation is stored, the account stays destroyed.
        #expect(try await store.storage.apply(.accountCreated(account: account, at: 400)) == ApplyResult(changed: 1, revived: false))
        #expect(try await store.storage.apply(.accountCreated(account: account, at: 500)) == ApplyResult(changed: 1, revived: false))
        #expect(try await store.storage.apply(.accountCreated(account: account, at: 300)) == ApplyResult(ignored: 1))
        #expect(try await record() == AccountRecord(account: account, destroyedAt: 500, createdAt: 500))
        #expect(try await record()?.isLive == false)

        #expect(try await store.storage.apply(.accountCreated(account: account, at: 600)) == ApplyResult(changed: 1, revived: true))
        #expect(try await record() == AccountRecord(account: account, destroyedAt: 500, createdAt: 600))
        #expect(try await record()?.isLive == true)
        #expect(try await store.storage.apply(.accountCreated(account: account, at: 600)) == ApplyResult(ignored: 1), "a duplicate")
        // The tombstone still voids facts at or before the destruction; the creation changed no subscriber.
        #expect(try await store.subscribe(account, ["old"], at: 500) == ApplyResult(ignored: 1))
        #expect(try await store.subscribe(account, ["new"], at: 700) == ApplyResult(changed: 1))
        #expect(try await store.subscribed(account) == ["new"])
        #expect(try await store.events().map(\.summary) == ["subscriber.subscribed a", "subscriber.unsubscribed a", "subscriber.subscribed new"])

        // Out of order: a creation that arrives before an older destruction leaves the account live.
        let other = "@TOA#_reordered"
        try await store.subscribe(other, ["x"], at: 100)
        #expect(try await store.storage.apply(.accountCreated(account: other, at: 900)).revived == false)
        #expect(try await store.storage.apply(.accountDestroyed(account: other, at: 800)) == ApplyResult(changed: 1))
        #expect(try await store.storage.accounts().first { $0.account == other }?.isLive == true)
        // A destruction newer than every creation wins.
        #expect(try await store.storage.apply(.accountDestroyed(account: other, at: 1_000)) == ApplyResult())
        #expect(try await store.storage.accounts().first { $0.account == other }?.isLive == false)
    }

    @Test(arguments: StorageEngine.allCases)
    func accountSummariesCountStateAndTheLatestPass(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe(account, ["a", "b", "c"], at: 100)
        try await store.unsubscribe(account, ["gone"], at: 100)
        _ = try await store.listingPass(account, startedAt: 1_000, listed: [("c", .unknown)], requestedAt: 1_001, remove: false)
        let pass = try await store.storage.beginPass(account: account, startedAt: 2_000)
        _ = try await store.storage.markRemovalCandidates(in: pass)
        try await store.storage.finishPass(pass, at: 2_005, outcome: "held", complete: true, events: [], keepListing: false)
        _ = try await store.storage.apply(.accountDestroyed(account: "@TOA#_gone", at: 50))
        let running = try await store.storage.beginPass(account: "@TOA#_running", startedAt: 3_000)

        let summaries = try await store.storage.accountSummaries()
        #expect(summaries.map(\.record.account) == ["@TOA#_gone", "@TOA#_running", account])
        let shop = try #require(summaries.last)
        #expect(shop.state == "live")
        #expect(shop.subscribed == 3)
        #expect(shop.tombstones == 1)
        #expect(shop.lastPass == AccountSummary.LastPass(outcome: "held", startedAt: 2_000, finishedAt: 2_005))
        #expect(shop.removalCandidates == 3, "the held pass's listing was empty")
        #expect(shop.removable == 2, "a and b, missing twice in a row: held")
        #expect(summaries[0].state == "destroyed")
        #expect(summaries[0].record.destroyedAt == 50)
        #expect(summaries[0].lastPass == nil)
        #expect(summaries[1].lastPass == AccountSummary.LastPass(outcome: nil, startedAt: 3_000, finishedAt: nil))
        try await store.storage.finishPass(running, at: 3_001, outcome: "failed", complete: false, events: [], keepListing: false)
        // A candidate who unsubscribes meanwhile is no longer pending.
        try await store.unsubscribe(account, ["a"], at: 2_500)
        #expect(try await store.storage.accountSummaries().last?.removalCandidates == 2)
    }

    @Test(arguments: StorageEngine.allCases)
    func accountsFirstSeenInCallbacksAreRememberedAndCounted(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.unsubscribe("@TOA#_seen", ["x"], at: 5)
        try await store.subscribe(account, ["a", "b"], at: 5)
        #expect(try await store.storage.accounts() == [AccountRecord(account: "@TOA#_seen", destroyedAt: nil),
                                                       AccountRecord(account: account, destroyedAt: nil)])
        #expect(try await store.storage.subscriberCounts() == ["@TOA#_seen": 0, account: 2])
    }

    @Test(arguments: StorageEngine.allCases)
    func concurrentChangesAllCommitWithContiguousSequences(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        let storage = store.storage
        try await withThrowingTaskGroup(of: ApplyResult.self) { group in
            for index in 0..<100 {
                group.addTask {
                    try await storage.apply(.subscribers(SubscriberFacts(.subscribed, account: "@TOA#_g", subscribers: ["u\(index)"], version: 1)))
                }
            }
            var changed = 0
            for try await result in group { changed += result.changed }
            #expect(changed == 100)
        }
        #expect(try await store.subscribed("@TOA#_g").count == 100)
        #expect(try await store.events().map(\.sequence) == Array(1...100))
    }

    // MARK: Outbox and emitter

    @Test(arguments: StorageEngine.allCases)
    func eventsAreReadAfterTheCheckpointAndTheCheckpointOnlyMovesForTheHolder(engine: StorageEngine) async throws {
        let clock = FakeClock()
        let store = try await engine.makeStore(clock: clock)
        try await store.subscribe(account, (0..<10).map { "u\($0)" }, at: 100)
        let lease = try #require(try await store.storage.acquireEmitterLease(holder: "a", durationMilliseconds: 6_000))
        let first = try await store.storage.nextEvents(for: lease, limit: 4)
        #expect(first.checkpoint == 0)
        #expect(first.events.map(\.sequence) == [1, 2, 3, 4])
        #expect(try await store.storage.advanceCheckpoint(to: 4, for: lease))
        let second = try await store.storage.nextEvents(for: lease, limit: 100)
        #expect(second.checkpoint == 4)
        #expect(second.events.map(\.sequence) == Array(5...10))
        #expect(try await store.storage.emitterProgress() == EmitterProgress(checkpoint: 4, newest: 10, oldestPendingRecordedAt: clock.nowMilliseconds()))
        // Re-reading from the checkpoint gives the same bytes: re-emission is byte-identical.
        #expect(try await store.storage.nextEvents(for: lease, limit: 100) == second)
        #expect(try await store.storage.events(in: 5...10, limit: 100) == second.events)
        #expect(try await store.storage.advanceCheckpoint(to: 10, for: lease))
        #expect(try await store.storage.emitterProgress() == EmitterProgress(checkpoint: 10, newest: 10, oldestPendingRecordedAt: nil))
        // Numbers go on from the newest.
        try await store.subscribe(account, ["late"], at: 200)
        #expect(try await store.storage.nextEvents(for: lease, limit: 100).events.map(\.sequence) == [11])
    }

    @Test(arguments: StorageEngine.allCases)
    func leaseIsExclusiveUntilItExpiresAndTheOldHolderIsFencedOff(engine: StorageEngine) async throws {
        let clock = FakeClock()
        let store = try await engine.makeStore(clock: clock)
        try await store.subscribe(account, ["a", "b"], at: 100)
        let storage = store.storage
        let first = try #require(try await storage.acquireEmitterLease(holder: "a", durationMilliseconds: 6_000))
        #expect(try await storage.acquireEmitterLease(holder: "b", durationMilliseconds: 6_000) == nil)
        clock.advance(milliseconds: 5_000)
        #expect(try await storage.acquireEmitterLease(holder: "b", durationMilliseconds: 6_000) == nil)
        #expect(try await storage.acquireEmitterLease(holder: "a", durationMilliseconds: 6_000) == first, "the holder renews, same epoch")
        clock.advance(milliseconds: 6_001)
        let second = try #require(try await storage.acquireEmitterLease(holder: "b", durationMilliseconds: 6_000), "an expired lease is taken over")
        #expect(second.epoch > first.epoch)
        #expect(try await !storage.advanceCheckpoint(to: 2, for: first), "the old holder may no longer move the checkpoint")
        #expect(try await storage.emitterProgress().checkpoint == 0)
        #expect(try await storage.advanceCheckpoint(to: 1, for: second))
        // Released: the next taker gets a newer epoch; the released grant is dead.
        try await storage.releaseEmitterLease(second)
        let third = try #require(try await storage.acquireEmitterLease(holder: "a", durationMilliseconds: 6_000))
        #expect(third.epoch > second.epoch)
        #expect(try await !storage.advanceCheckpoint(to: 2, for: second))
        #expect(try await storage.emitterProgress().checkpoint == 1)
    }

    @Test(arguments: StorageEngine.allCases)
    func reconcileLeaseIsExclusiveFencedAndKeepsTheSchedule(engine: StorageEngine) async throws {
        let clock = FakeClock()
        let store = try await engine.makeStore(clock: clock)
        let storage = store.storage
        let first = try #require(try await storage.acquireReconcileLease(holder: "a", durationMilliseconds: 30_000, dueAfterMilliseconds: 60_000),
                                 "nothing ran yet: due")
        #expect(try await storage.acquireReconcileLease(holder: "b", durationMilliseconds: 30_000, dueAfterMilliseconds: nil) == nil, "held")
        clock.advance(milliseconds: 20_000)
        #expect(try await storage.renewReconcileLease(first))
        clock.advance(milliseconds: 20_000)
        #expect(try await storage.acquireReconcileLease(holder: "b", durationMilliseconds: 30_000, dueAfterMilliseconds: nil) == nil,
                "renewed: still held")
        try await storage.releaseReconcileLease(first)
        #expect(try await storage.acquireReconcileLease(holder: "b", durationMilliseconds: 30_000, dueAfterMilliseconds: 60_000) == nil,
                "free, but the last run started 40 s ago: not due")
        let second = try #require(try await storage.acquireReconcileLease(holder: "b", durationMilliseconds: 30_000, dueAfterMilliseconds: 30_000))
        #expect(second.epoch > first.epoch)
        #expect(try await !storage.renewReconcileLease(first), "a released grant is dead")
        // The holder dies: its lease expires and another process takes it, fencing the old one out.
        clock.advance(milliseconds: 30_001)
        let third = try #require(try await storage.acquireReconcileLease(holder: "c", durationMilliseconds: 30_000, dueAfterMilliseconds: nil))
        #expect(third.epoch > second.epoch)
        #expect(try await !storage.renewReconcileLease(second))
    }

    /// A process that paused past its lease while another took it changes nothing more: the
    /// start of a pass and each repair check the lease in their own transaction. Its failure is
    /// still recorded, and the new holder's pass, begun before the stale writes, is untouched by
    /// them (on PostgreSQL a stale begin would otherwise drop its listing).
    @Test(arguments: StorageEngine.allCases)
    func aPassWhoseLeaseWasTakenChangesNothingMore(engine: StorageEngine) async throws {
        let clock = FakeClock()
        let store = try await engine.makeStore(clock: clock)
        let storage = store.storage
        try await store.subscribe(account, ["gone", "kept"], at: 100)
        let lease = try #require(try await storage.acquireReconcileLease(holder: "a", durationMilliseconds: 30_000, dueAfterMilliseconds: nil))
        let stale = try await storage.beginPass(account: account, startedAt: 1_000, lease: lease)
        try await storage.stage([TestStore.entry("kept", account: account, requestedAt: 1_001), TestStore.entry("new", account: account, requestedAt: 1_001)],
                                in: stale)
        clock.advance(milliseconds: 30_001)
        let taken = try #require(try await storage.acquireReconcileLease(holder: "b", durationMilliseconds: 30_000, dueAfterMilliseconds: nil))
        let current = try await storage.beginPass(account: account, startedAt: 3_000, lease: taken)
        try await storage.stage([TestStore.entry("kept", account: account, requestedAt: 3_001), TestStore.entry("new", account: account, requestedAt: 3_001)],
                                in: current)
        let eventsBefore = try await store.events().map(\.line)

        await #expect(throws: ReconcileLeaseLost.self) { try await storage.markRemovalCandidates(in: stale) }
        await #expect(throws: ReconcileLeaseLost.self) { try await storage.applyListedFields(in: stale, batchSize: 3) }
        await #expect(throws: ReconcileLeaseLost.self) { try await storage.addListed(in: stale) }
        await #expect(throws: ReconcileLeaseLost.self) { try await storage.removeMissing(["gone"], in: stale, batchSize: 3) }
        await #expect(throws: ReconcileLeaseLost.self) {
            try await storage.finishPass(stale, at: 3_500, outcome: "completed", complete: true, events: [], keepListing: false)
        }
        await #expect(throws: ReconcileLeaseLost.self) { try await storage.beginPass(account: account, startedAt: 3_600, lease: lease) }
        await #expect(throws: ReconcileLeaseLost.self) { try await storage.beginPass(account: "@TOA#_next", startedAt: 3_600, lease: lease) }
        #expect(try await store.subscribed(account) == ["gone", "kept"], "nothing added, nothing removed")
        #expect(try await store.events().map(\.line) == eventsBefore)

        #expect(try await storage.markRemovalCandidates(in: current).count == 1, "gone")
        #expect(try await storage.addListed(in: current) == 1, "new: the current pass's listing is whole")
        try await storage.finishPass(current, at: 4_000, outcome: "completed", complete: true, events: [], keepListing: false)
        #expect(try await store.subscribed(account) == ["gone", "kept", "new"])
        // (Last here: on SQLite both passes of this one process share the connection's TEMP listing.)
        try await storage.finishPass(stale, at: 4_100, outcome: "failed", complete: false, events: [], keepListing: false)
        #expect(try await storage.accounts().map(\.account).contains("@TOA#_next") == false, "the stale begin remembered nothing")
    }

    // MARK: Staging and repair

    @Test(arguments: StorageEngine.allCases)
    func aListingAddsTheListedAndOnlyMarksTheMissing(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe(account, ["kept", "gone"], at: 100)
        let fields = SubscriberFields(subscribeTime: 7, msgFlag: "AcceptAndNotify", customString: "", lastSendMsgTime: 0)
        let first = try await store.listingPass(account, startedAt: 1_000, listed: [("kept", fields), ("new", fields)], requestedAt: 1_001)
        #expect(first.added == 1)
        #expect(first.candidates == 1)
        #expect(first.removed == 0, "one listing is not enough to remove")
        #expect(first.updated == 0, "values learned for the first time are stored silently")
        #expect(try await store.subscribed(account) == ["gone", "kept", "new"])
        #expect(try await store.record(account, "kept")?.fields == fields)
        let added = try #require(try await store.record(account, "new"))
        #expect(added.since == 1_001)
        #expect(added.origin == "reconcile")
        #expect(added.fields == fields)
        let second = try await store.listingPass(account, startedAt: 2_000, listed: [("kept", fields), ("new", fields)], requestedAt: 2_001)
        #expect(second == (added: 0, updated: 0, candidates: 1, removed: 1))
        #expect(try await store.subscribed(account) == ["kept", "new"])
        let events = try await store.events()
        #expect(events.map(\.summary) == ["subscriber.subscribed kept", "subscriber.subscribed gone", "subscriber.subscribed new",
                                          "subscriber.unsubscribed gone"])
        #expect(events[2].data["origin"] as? String == "reconcile")
        #expect(events[2].json["time"] as? String == "1970-01-01T00:00:01.001Z")
        #expect(events[3].json["time"] as? String == "1970-01-01T00:00:02.000Z", "a removal takes the scan's start as its version")
    }

    @Test(arguments: StorageEngine.allCases)
    func changedFieldsBecomeUpdatesWithThePreviousValues(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        let before = SubscriberFields(subscribeTime: 7, msgFlag: "AcceptAndNotify", customString: "a", lastSendMsgTime: 1)
        try await store.listingPass(account, startedAt: 1_000, listed: [("u", before)], requestedAt: 1_001)
        var after = before
        after.lastSendMsgTime = 99
        #expect(try await store.listingPass(account, startedAt: 2_000, listed: [("u", after)], requestedAt: 2_001).updated == 0,
                "LastSendMsgTime moves with every message: stored silently")
        after.msgFlag = "Discard"
        #expect(try await store.listingPass(account, startedAt: 3_000, listed: [("u", after)], requestedAt: 3_001).updated == 1)
        let update = try #require(try await store.events().last)
        #expect(update.type == "subscriber.updated")
        #expect(update.data["msgFlag"] as? String == "Discard")
        #expect((update.data["previous"] as? [String: Any])?["msgFlag"] as? String == "AcceptAndNotify")
        #expect(try await store.record(account, "u")?.fields == after)
    }

    @Test(arguments: StorageEngine.allCases)
    func callbacksDuringTheScanWinInBothDirections(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe(account, ["leaver"], at: 100)
        let pass = try await store.storage.beginPass(account: account, startedAt: 1_000)
        // The page listing "leaver" and "joiner" was requested at 1_001 ...
        try await store.storage.stage([TestStore.entry("leaver", account: account, requestedAt: 1_001),
                                       TestStore.entry("joiner", account: account, requestedAt: 1_001)], in: pass)
        // ... then callbacks newer than the page arrive: leaver leaves, a newer fact about joiner leaves too.
        try await store.unsubscribe(account, ["leaver"], at: 1_002)
        try await store.unsubscribe(account, ["joiner"], at: 1_003)
        // And someone subscribes during the scan, after the listing's pages: not listed, but newer than the scan's start.
        try await store.subscribe(account, ["fresh"], at: 1_004)
        let candidates = try await store.storage.markRemovalCandidates(in: pass)
        #expect(candidates.count == 0, "a record changed after the scan started is not a candidate")
        #expect(try await store.storage.addListed(in: pass) == 0, "newer callbacks win over the page")
        try await store.storage.finishPass(pass, at: 1_005, outcome: "completed", complete: true, events: [], keepListing: false)
        #expect(try await store.subscribed(account) == ["fresh"])
    }

    @Test(arguments: StorageEngine.allCases)
    func removalsNeedTwoConsecutiveCompleteListingsWithNoChangeBetween(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe(account, ["a", "b", "c"], at: 100)
        #expect(try await store.listingPass(account, startedAt: 1_000, listed: [("c", .unknown)], requestedAt: 1_001).candidates == 2)
        // b changes in between (a newer subscribe moves its version): its count starts over.
        try await store.subscribe(account, ["b"], at: 1_500)
        // A failed pass neither counts nor breaks the run.
        let failed = try await store.storage.beginPass(account: account, startedAt: 1_600)
        try await store.storage.finishPass(failed, at: 1_601, outcome: "failed", complete: false, events: [], keepListing: false)
        let second = try await store.listingPass(account, startedAt: 2_000, listed: [("c", .unknown)], requestedAt: 2_001)
        #expect(second.candidates == 2)
        #expect(second.removed == 1)
        #expect(try await store.subscribed(account) == ["b", "c"])
        // Listed again in between: the count starts over too.
        #expect(try await store.listingPass(account, startedAt: 3_000, listed: [("b", .unknown), ("c", .unknown)], requestedAt: 3_001).removed == 0)
        #expect(try await store.listingPass(account, startedAt: 4_000, listed: [("c", .unknown)], requestedAt: 4_001).removed == 0)
        #expect(try await store.listingPass(account, startedAt: 5_000, listed: [("c", .unknown)], requestedAt: 5_001).removed == 1)
        #expect(try await store.subscribed(account) == ["c"])
    }

    @Test(arguments: StorageEngine.allCases)
    func heldRemovalsKeepCountingAndFinishRecordsTheEvents(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe(account, ["a", "b"], at: 100)
        #expect(try await store.listingPass(account, startedAt: 1_000, listed: [], requestedAt: 1_001, remove: false).candidates == 2)
        // A held pass: candidates marked, nothing removed, the pass's events recorded.
        let pass = try await store.storage.beginPass(account: account, startedAt: 2_000)
        #expect(pass.subscribedAtStart == 2)
        let candidates = try await store.storage.markRemovalCandidates(in: pass)
        #expect(candidates.removable.sorted() == ["a", "b"])
        let report = ReconcileReport(account: account, startedAt: 2_000)
        try await store.storage.finishPass(pass, at: 2_005, outcome: "held", complete: true,
                                           events: [report.event(.reconcileHeld, at: 2_005), report.event(.reconcileCompleted, at: 2_005)],
                                           keepListing: false)
        #expect(try await store.subscribed(account) == ["a", "b"])
        let events = try await store.events().suffix(2)
        #expect(events.map(\.summary) == ["reconcile.held \(account)", "reconcile.completed \(account)"])
        #expect(events.allSatisfy { $0.json["recordedtime"] as? String == "1970-01-01T00:00:02.005Z" })
        // The next complete listing still finds them missing twice in a row.
        #expect(try await store.listingPass(account, startedAt: 3_000, listed: [], requestedAt: 3_001).removed == 2)
    }

    @Test(arguments: StorageEngine.allCases)
    func aSubscriberListedTwiceKeepsTheLatestEntry(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        let pass = try await store.storage.beginPass(account: account, startedAt: 1_000)
        try await store.storage.stage([TestStore.entry("u", account: account, fields: SubscriberFields(msgFlag: "A"), requestedAt: 1_001)], in: pass)
        try await store.storage.stage([TestStore.entry("u", account: account, fields: SubscriberFields(msgFlag: "B"), requestedAt: 1_002)], in: pass)
        #expect(try await store.storage.addListed(in: pass) == 1)
        try await store.storage.finishPass(pass, at: 1_003, outcome: "completed", complete: true, events: [], keepListing: false)
        let record = try #require(try await store.record(account, "u"))
        #expect(record.fields.msgFlag == "B")
        #expect(record.since == 1_002)
    }

    /// PostgreSQL stages listings through COPY's text format, where tab, newline, carriage return
    /// and backslash are escapes and `\N` is NULL.
    @Test(arguments: StorageEngine.allCases)
    func listedTextAndNumbersSurviveStagingExactly(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        let awkward = [
            SubscriberFields(subscribeTime: Int64.min, msgFlag: "\\N", customString: "tab\there\nline\r\\back\\slash\\", lastSendMsgTime: Int64.max),
            SubscriberFields(subscribeTime: -1, msgFlag: "\\", customString: "\\N", lastSendMsgTime: 0),
            SubscriberFields(subscribeTime: 9, msgFlag: "ok", customString: "订阅者 🎉 \t", lastSendMsgTime: nil),
            SubscriberFields(subscribeTime: nil, msgFlag: nil, customString: "", lastSendMsgTime: 1_700_000_000_123),
        ]
        let listed = awkward.enumerated().map { ("user\($0.offset)", $0.element) }
        #expect(try await store.listingPass(account, startedAt: 1_000, listed: listed, requestedAt: 1_001).added == awkward.count)
        for (subscriber, fields) in listed {
            #expect(try await store.record(account, subscriber)?.fields == fields, "\(subscriber)")
        }
        let events = try await store.events()
        #expect(events.count == awkward.count)
        for (event, (subscriber, fields)) in zip(events, listed) {
            #expect(event.summary == "subscriber.subscribed \(subscriber)")
            #expect(event.data["customString"] as? String == fields.customString)
            #expect(event.data["msgFlag"] as? String == fields.msgFlag)
        }
    }
}
