import Testing
import TencentSimulator
@testable import SubscriberSync

/// The reconciler's bulk add states the same rule as a callback's subscribe: random sequences of
/// facts, with every subscribe applied once as a callback and once as a listing entry requested
/// at the same time, end in the same state with the same events, on every engine.
@Suite("Storage: one subscribe rule for callbacks and listings") struct SubscribeRulePropertyTests {
    enum Fact: CustomStringConvertible {
        case subscribe(String, Int64)
        case unsubscribe([String], Int64)
        case destroy(Int64)

        var description: String {
            switch self {
            case .subscribe(let subscriber, let version): "+\(subscriber)@\(version)"
            case .unsubscribe(let subscribers, let version): "-\(subscribers.joined(separator: ","))@\(version)"
            case .destroy(let version): "destroy@\(version)"
            }
        }
    }

    static let account = "@TOA#_prop"
    static let subscribers = ["a", "b", "c", "d"]

    /// Versions from a narrow range, so that ties, reorderings and stale facts are common.
    static func facts(seed: UInt64, count: Int) -> [Fact] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in
            let version = Int64.random(in: 1...40, using: &random)
            switch Int.random(in: 0..<20, using: &random) {
            case 0: return .destroy(version)
            case 1..<11: return .subscribe(subscribers.randomElement(using: &random)!, version)
            default: return .unsubscribe(Array(subscribers.shuffled(using: &random).prefix(Int.random(in: 1...2, using: &random))), version)
            }
        }
    }

    /// Applies `facts`, subscribes as callbacks or as listing passes. Listing passes never remove:
    /// removals are a different rule (two listings), not the subscribe rule.
    static func run(_ facts: [Fact], on engine: StorageEngine, subscribesAsListings: Bool) async throws -> (state: [String], events: [String]) {
        let store = try await engine.makeStore()
        var scanClock: Int64 = 0
        for fact in facts {
            switch fact {
            case .subscribe(let subscriber, let version):
                if subscribesAsListings {
                    scanClock += 1
                    // The scan started long before the page: no record counts as a candidate.
                    try await store.listingPass(account, startedAt: -scanClock, listed: [(subscriber, .unknown)], requestedAt: version,
                                                remove: false)
                } else {
                    try await store.subscribe(account, [subscriber], at: version)
                }
            case .unsubscribe(let subscribers, let version):
                try await store.unsubscribe(account, subscribers, at: version)
            case .destroy(let version):
                _ = try await store.storage.apply(.accountDestroyed(account: account, at: version))
            }
        }
        var state: [String] = []
        try await store.storage.exportSubscribers(account: account) { state.append("\($0.subscriber) since \($0.since ?? -1)") }
        let events = try await store.events().map { "\($0.summary) at \($0.json["time"] as? String ?? "?")" }
        return (state, events)
    }

    @Test(arguments: StorageEngine.allCases)
    func callbacksAndListingsAgree(engine: StorageEngine) async throws {
        let base: UInt64 = 0x5EED_2026_1130
        for round in 0..<40 {
            let seed = base &+ UInt64(round)
            let facts = Self.facts(seed: seed, count: 30)
            let callbacks = try await Self.run(facts, on: engine, subscribesAsListings: false)
            let listings = try await Self.run(facts, on: engine, subscribesAsListings: true)
            #expect(callbacks.state == listings.state, "seed \(seed): \(facts)")
            #expect(callbacks.events == listings.events, "seed \(seed): \(facts)")
        }
    }

    /// The property test must be able to fail: a listing entry stands for a subscribe at its
    /// request time, so moving that time moves the outcome.
    @Test(arguments: StorageEngine.allCases)
    func aDifferentFactIsNoticed(engine: StorageEngine) async throws {
        let facts: [Fact] = [.subscribe("a", 10), .unsubscribe(["a"], 20), .subscribe("a", 30)]
        let shifted: [Fact] = [.subscribe("a", 10), .unsubscribe(["a"], 20), .subscribe("a", 20)]
        let expected = try await Self.run(facts, on: engine, subscribesAsListings: false)
        #expect(expected.state == ["a since 30"])
        #expect(try await Self.run(shifted, on: engine, subscribesAsListings: true).state != expected.state)
    }
}
