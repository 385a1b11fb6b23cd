import Testing
@testable import SubscriberSync

@Suite struct RemovalGuardTests {
    @Test(arguments: [
        // (removals, subscribed at start, floor, held)
        (10, 20, 10, false), (11, 20, 10, true), (1, 3, 10, false), (3, 20, 3, false), (4, 20, 3, true),
        (2, 20, 0, false), (3, 20, 0, true), (11, 1000, 10, false),
    ])
    func theRatioHoldsOnlyAboveTheFloor(removals: Int, subscribed: Int, floor: Int, held: Bool) {
        let guardian = RemovalGuard(maxRemovals: 1000, maxRemovalRatio: 0.1, removalRatioFloor: floor)
        let reason = guardian.holdReason(removals: removals, subscribedAtStart: subscribed, listed: subscribed - removals, storeHoldsSubscribers: true)
        #expect((reason != nil) == held, "\(reason ?? "applied")")
    }

    @Test func theFloorLeavesTheOtherRulesAlone() {
        let guardian = RemovalGuard(maxRemovals: 5, maxRemovalRatio: 0.1, removalRatioFloor: 100)
        #expect(guardian.holdReason(removals: 6, subscribedAtStart: 50, listed: 44, storeHoldsSubscribers: true)?.contains("--max-removals 5") == true)
        #expect(guardian.holdReason(removals: 3, subscribedAtStart: 3, listed: 0, storeHoldsSubscribers: true)
            == "the listing is empty while the store holds subscribers")
    }
}
