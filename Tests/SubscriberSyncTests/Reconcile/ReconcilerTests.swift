import Foundation
import Synchronization
import Testing
import TencentSimulator
@testable import SubscriberSync

/// The reconciler against the simulator over loopback, with a real SQLite store.
@Suite struct ReconcilerTests {
    let account = "@TOA#_shop"
    let old: Int64 = 1_600_000_000_000  // callbacks long before any scan

    func harness(listed: [String], stored: [String]) async throws -> SimulatorHarness {
        let harness = try await SimulatorHarness()
        harness.simulator.createAccount(account)
        harness.simulator.setSubscribers(account: account, listed.map { SubscriberInfo(account: $0, subscribeTime: 1_698_821_747, customString: "", msgFlag: "AcceptAndNotify", lastSendMsgTime: 0) })
        if !stored.isEmpty { try await harness.subscribe(account, stored, at: old) }
        return harness
    }

    /// A run whose lease another process took (this one paused past it) stops: the pass in
    /// hand fails without changing anything, and the accounts left are the new holder's.
    @Test func aRunWhoseLeaseWasTakenStopsWithoutChanges() async throws {
        let h = try await harness(listed: ["a", "b"], stored: [])
        let lease = try #require(try await h.storage.acquireReconcileLease(holder: "a", durationMilliseconds: 1, dueAfterMilliseconds: nil))
        let takenOver = await waitUntil(timeout: .seconds(10)) {
            (try? await h.storage.acquireReconcileLease(holder: "b", durationMilliseconds: 60_000, dueAfterMilliseconds: nil)) != nil
        }
        try #require(takenOver, "the 1 ms lease expired and another holder took it")
        let reports = await h.reconciler().run(accounts: [account, "@TOA#_next"], lease: lease, isInterrupted: { false })
        #expect(reports.map(\.account) == [account], "the run stopped after the lost lease")
        #expect(reports.first?.outcome == .failed)
        #expect(reports.first?.reason?.contains("reconcile lease") == true, "\(reports)")
        #expect(try await h.subscribed(account).isEmpty)
    }

    @Test func lostSubscribesAndUnsubscribesAreRepaired() async throws {
        let common = SimulatorHarness.names("u", 0..<100)
        let lostSubscribes = SimulatorHarness.names("new", 0..<3)
        let lostUnsubscribes = SimulatorHarness.names("gone", 0..<3)
        let h = try await harness(listed: common + lostSubscribes, stored: common + lostUnsubscribes)

        let first = await h.pass(account)
        #expect(first.outcome == .completed)
        #expect(first.added == 3)
        #expect(first.removed == 0, "missing from one listing is not enough")
        #expect(first.removalCandidates == 3)
        #expect(first.pages == 1 && first.listed == 103 && first.subscriberNum == 103)
        #expect(try await h.subscribed(account) == Set(common + lostSubscribes + lostUnsubscribes))

        let second = await h.pass(account)
        #expect(second.outcome == .completed)
        #expect(second.removed == 3)
        #expect(try await h.subscribed(account) == Set(common + lostSubscribes))

        let subscriberEvents = try await h.events().filter { $0.type.hasPrefix("subscriber.") }
        let added = subscriberEvents.filter { $0.type == "subscriber.subscribed" && $0.data["origin"] as? String == "reconcile" }
        #expect(Set(added.map(\.subject)) == Set(lostSubscribes))
        #expect(added.allSatisfy { $0.data["msgFlag"] as? String == "AcceptAndNotify" && $0.data["subscribeTime"] as? Int == 1_698_821_747 })
        let removed = subscriberEvents.filter { $0.type == "subscriber.unsubscribed" }
        #expect(Set(removed.map(\.subject)) == Set(lostUnsubscribes))
        #expect(removed.allSatisfy { $0.data["origin"] as? String == "reconcile" })
        let completed = try await h.events().filter { $0.type == "reconcile.completed" }
        #expect(completed.count == 2)
        #expect(completed.allSatisfy { $0.subject == account })
        #expect(completed.last?.data["removed"] as? Int == 3)
    }

    @Test func secondPassChangesNothing() async throws {
        let h = try await harness(listed: SimulatorHarness.names("u", 0..<450), stored: SimulatorHarness.names("u", 0..<10))
        let first = await h.pass(account)
        #expect(first.outcome == .completed && first.added == 440 && first.pages == 3)
        let before = try await h.newestSequence()
        let second = await h.pass(account)
        #expect(second.outcome == .completed)
        #expect(second.added == 0 && second.removed == 0 && second.updated == 0 && second.removalCandidates == 0)
        #expect(try await h.events(after: before).map(\.type) == ["reconcile.completed"])
    }

    @Test func fieldChangesBecomeUpdatesWithPreviousValues() async throws {
        let h = try await harness(listed: SimulatorHarness.names("u", 0..<5), stored: SimulatorHarness.names("u", 0..<5))
        let before = try await h.newestSequence()
        let first = await h.pass(account)
        #expect(first.updated == 0, "fields learned for the first time are stored without an event")
        #expect(try await h.events(after: before).filter { $0.type.hasPrefix("subscriber.") }.isEmpty)
        _ = h.simulator.updateSubscriber(account: account, subscriber: "u00002") { $0.msgFlag = "Discard"; $0.customString = "vip" }
        _ = h.simulator.updateSubscriber(account: account, subscriber: "u00003") { $0.lastSendMsgTime = 1_700_000_000 }
        let second = await h.pass(account)
        #expect(second.updated == 1)
        let updates = try await h.events().filter { $0.type == "subscriber.updated" }
        #expect(updates.count == 1)
        let update = try #require(updates.first)
        #expect(update.subject == "u00002")
        #expect(update.data["msgFlag"] as? String == "Discard")
        #expect(update.data["customString"] as? String == "vip")
        let previous = try #require(update.data["previous"] as? [String: Any])
        #expect(previous["msgFlag"] as? String == "AcceptAndNotify")
        #expect(previous["customString"] as? String == "")
        let stored = try await h.record(account, "u00003")?.fields.lastSendMsgTime
        #expect(stored == 1_700_000_000, "LastSendMsgTime is stored silently")
    }

    @Test func callbacksDuringTheScanWinInBothDirections() async throws {
        let listed = SimulatorHarness.names("u", 0..<600)
        let h = try await harness(listed: listed, stored: listed)
        let harness = h
        let account = self.account
        // While page 2 is served, two callbacks land: u00001 (listed on page 1, already fetched)
        // unsubscribes, and "late" (absent from every page) subscribes.
        h.simulator.onPageServed = { served, index in
            guard served == account, index == 1 else { return }
            let now = SystemWallClock().nowMilliseconds() + 1
            try? await harness.unsubscribe(account, ["u00001"], at: now)
            try? await harness.subscribe(account, ["late"], at: now)
        }
        let first = await h.pass(account)
        #expect(first.outcome == .completed)
        let subscribed = try await h.subscribed(account)
        #expect(!subscribed.contains("u00001"), "a listed subscriber whose unsubscribe arrived after its page stays unsubscribed")
        #expect(subscribed.contains("late"), "a subscribe after the scan started is not a removal candidate")
        h.simulator.onPageServed = nil
        _ = await h.pass(account)
        #expect(try await h.subscribed(account).contains("late"), "nor on the next pass, while its record is newer than the scan")
    }

    @Test func churningListingDoesNotCauseWrongRemovals() async throws {
        let listed = SimulatorHarness.names("u", 0..<1000)
        let h = try await harness(listed: listed, stored: listed)
        h.simulator.pagingMode = .offset
        let harness = h
        let account = self.account
        let removedInSimulator = Mutex<Set<String>>([])
        // After each page, two subscribers already listed leave (and Tencent tells us): with an
        // offset cursor every later page shifts, and the scan skips subscribers that never left.
        h.simulator.onPageServed = { served, index in
            guard served == account, index < 4 else { return }
            let leaving = SimulatorHarness.names("u", (index * 10)..<(index * 10 + 2))
            _ = harness.simulator.removeSubscribers(account: account, leaving)
            removedInSimulator.withLock { $0.formUnion(leaving) }
            try? await harness.unsubscribe(account, leaving, at: SystemWallClock().nowMilliseconds() + 1)
        }
        // A page retried after a timeout would be cut again after the hook's removals and serve
        // the skipped subscribers after all: no timeout a loaded machine can reach.
        let first = await h.reconciler(removalGuard: RemovalGuard(maxRemovals: 1000, maxRemovalRatio: 1), client: h.client(timeout: .seconds(120)))
            .pass(account: account, lease: nil, isInterrupted: { false })
        #expect(first.outcome == .completed)
        // With an offset cursor the scan serves as many entries as remain, but skips one
        // subscriber that never left for each one that left behind the cursor.
        #expect(first.removalCandidates == 8, "the offset cursor really skipped someone (otherwise this test proves nothing)")
        #expect(first.removed == 0)
        h.simulator.onPageServed = nil
        let second = await h.pass(account, removalGuard: RemovalGuard(maxRemovals: 1000, maxRemovalRatio: 1))
        #expect(second.removed == 0)
        let stillThere = Set(listed).subtracting(removedInSimulator.withLock { $0 })
        #expect(try await h.subscribed(account) == stillThere)
    }

    @Test func pagesFailingForGoodChangeNothing() async throws {
        let h = try await harness(listed: SimulatorHarness.names("u", 0..<500), stored: SimulatorHarness.names("x", 0..<5))
        h.simulator.inject(.httpStatus(502), times: 1000, on: .getSubscriberInfo)
        let before = try await h.newestSequence()
        let report = await h.reconciler(client: h.client(maxAttempts: 3)).pass(account: account, lease: nil, isInterrupted: { false })
        #expect(report.outcome == .failed)
        #expect(report.reason?.contains("502") == true)
        #expect(try await h.subscribed(account) == Set(SimulatorHarness.names("x", 0..<5)))
        #expect(try await h.events(after: before).map(\.type) == ["reconcile.failed"])
    }

    @Test func failureAfterSomePagesChangesNothing() async throws {
        let h = try await harness(listed: SimulatorHarness.names("u", 0..<700), stored: [])
        h.simulator.onPageServed = { _, index in
            if index == 1 { h.simulator.inject(.errorCode(60020, info: "package expired"), times: 1) }
        }
        let report = await h.pass(account)
        #expect(report.outcome == .failed)
        #expect(report.pages == 2)
        #expect(try await h.subscribed(account).isEmpty)
    }

    @Test func transientFailuresAreRetriedAndThePassCompletes() async throws {
        let h = try await harness(listed: SimulatorHarness.names("u", 0..<450), stored: [])
        h.simulator.inject(.httpStatus(502), times: 1)
        h.simulator.inject(.garbage, times: 1)
        h.simulator.inject(.errorCode(70500, info: "internal"), times: 1)
        h.simulator.inject(.errorCode(60007, info: "too fast"), times: 1)
        h.simulator.inject(.truncated, times: 1)
        // Five faults in a row on the first page, then clean pages: six attempts ride it out.
        let report = await h.reconciler(client: h.client(maxAttempts: 6)).pass(account: account, lease: nil, isInterrupted: { false })
        #expect(report.outcome == .completed)
        #expect(report.added == 450)
        #expect(h.simulator.pendingFaults == 0)
    }

    @Test func emptyListingIsHeldEvenTheFirstTime() async throws {
        let h = try await harness(listed: [], stored: SimulatorHarness.names("u", 0..<20))
        let report = await h.pass(account)
        #expect(report.outcome == .held)
        #expect(report.held == 20)
        #expect(report.reason?.contains("empty") == true)
        let second = await h.pass(account)
        #expect(second.outcome == .held)
        #expect(try await h.subscribed(account).count == 20)
        let types = try await h.events().map(\.type)
        #expect(types == ["subscriber.subscribed"].flatMap { Array(repeating: $0, count: 20) } + ["reconcile.held", "reconcile.completed", "reconcile.held", "reconcile.completed"])
    }

    @Test func massRemovalIsHeldUnlessAllowedAndTheTwoListingRuleStillApplies() async throws {
        let h = try await harness(listed: SimulatorHarness.names("u", 0..<50), stored: SimulatorHarness.names("u", 0..<100))
        #expect(await h.pass(account).outcome == .completed, "first listing: 50 candidates, none removable yet")
        let held = await h.pass(account)
        #expect(held.outcome == .held)
        #expect(held.held == 50)
        #expect(try await h.subscribed(account).count == 100)
        let allowed = RemovalGuard(allowMassRemoval: true)
        let third = await h.pass(account, removalGuard: allowed)
        #expect(third.outcome == .completed)
        #expect(third.removed == 50, "held candidates kept counting toward the two-listing rule")
        #expect(try await h.subscribed(account).count == 50)
    }

    @Test func overrideStillNeedsTwoListings() async throws {
        let h = try await harness(listed: SimulatorHarness.names("u", 0..<10), stored: SimulatorHarness.names("u", 0..<100))
        let report = await h.pass(account, removalGuard: RemovalGuard(allowMassRemoval: true))
        #expect(report.outcome == .completed)
        #expect(report.removed == 0)
        #expect(try await h.subscribed(account).count == 100)
    }

    @Test func interruptedPassIsReportedFailedAndKeepsNothingFromTheListing() async throws {
        let h = try await harness(listed: SimulatorHarness.names("u", 0..<1000), stored: [])
        let pagesServed = Mutex(0)
        h.simulator.onPageServed = { _, _ in pagesServed.withLock { $0 += 1 } }
        let report = await h.pass(account, interrupted: { pagesServed.withLock { $0 } >= 2 })
        #expect(report.outcome == .failed)
        #expect(report.reason?.contains("interrupted") == true)
        #expect(try await h.subscribed(account).isEmpty)
    }

    @Test func bulkAndRowByRowAddsProduceTheSameEvents() async throws {
        let h = try await harness(listed: [], stored: [])
        let huge = String(repeating: "\u{1}", count: 3000)  // escapes to 18 000 bytes
        h.simulator.setSubscribers(account: account, [
            SubscriberInfo(account: "bulk", subscribeTime: 1_698_821_747, customString: "short \"quoted\" ✓", msgFlag: "Discard", lastSendMsgTime: 7),
            SubscriberInfo(account: "rowwise", subscribeTime: 1_698_821_748, customString: huge, msgFlag: "AcceptNotNotify", lastSendMsgTime: 8),
        ])
        let report = await h.pass(account)
        #expect(report.added == 2)
        let events = try await h.events().filter { $0.type == "subscriber.subscribed" }
        let bulk = try #require(events.first { $0.subject == "bulk" })
        #expect(bulk.data["officialAccount"] as? String == account)
        #expect(bulk.data["origin"] as? String == "reconcile")
        #expect(bulk.data["customString"] as? String == "short \"quoted\" ✓")
        #expect(bulk.data["subscribeTime"] as? Int == 1_698_821_747)
        #expect(bulk.data["lastSendMsgTime"] as? Int == 7)
        let rowwise = try #require(events.first { $0.subject == "rowwise" })
        #expect(rowwise.data["customStringOmitted"] as? Bool == true)
        #expect(rowwise.data["msgFlag"] as? String == "AcceptNotNotify")
        let lines = try await h.lines()
        #expect(lines.allSatisfy { $0.count < 16 * 1024 })
        let ids = try await h.eventIDs()
        #expect(ids.allSatisfy { $0.count == 36 && $0.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12] })
        #expect(Set(ids).count == ids.count)
        let bulkRecord = try await h.record(account, "bulk")
        #expect(bulkRecord?.origin == "reconcile")
        #expect(bulkRecord?.since != nil)
        #expect(try await h.record(account, "rowwise")?.origin == "reconcile")
    }

    @Test func destroyedAccountsAreNotReconciled() async throws {
        let h = try await harness(listed: [], stored: ["a"])
        try await h.callback(.accountDestroyed(account: account, eventTime: old + 1))
        try await h.subscribe("@TOA#_other", ["b"], at: old)
        let accounts = try await h.reconciler().accounts(configured: [account, "@TOA#_configured"])
        #expect(accounts == ["@TOA#_configured", "@TOA#_other"])
    }
}
