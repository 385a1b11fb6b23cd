import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import SubscriberSync
@testable import TencentSimulator

/// A million subscribers: seeded, paged deep into the listing, changed. The times are printed,
/// not asserted: even fastest-of-30 ratios failed now and then under the full suite's load in CI.
/// What a page costs at scale is measured by `scripts/bench/reconcile.sh`, which lists a million.
@Suite("Simulator: scale", .serialized)
struct SimulatorScaleTests {
    @Test("seed 1,000,000, then pages deep in the listing and a change in it are right")
    func million() async throws {
        try await HeavyTests.oneAtATime { try await millionSubscribers() }
    }

    func millionSubscribers() async throws {
        let clock = FakeClock(milliseconds: 1_700_000_000_000)
        let simulator = SimFixture.simulator(clock: clock, callsPerSecond: 1_000_000)
        let seedStart = ContinuousClock.now
        simulator.seed(account: SimFixture.account, count: 1_000_000)
        let seedTime = ContinuousClock.now - seedStart
        #expect(simulator.subscriberCount(of: SimFixture.account) == 1_000_000)

        // Build cursors the simulator would have issued at the start and near the end.
        let early = simulator.cursors.encode(.init(account: SimFixture.account, position: .after(TencentSimulator.seededAccount(prefix: "user", index: 199)), page: 1))
        let late = simulator.cursors.encode(.init(account: SimFixture.account, position: .after(TencentSimulator.seededAccount(prefix: "user", index: 999_599)), page: 4998))
        try await simulator.testApplication().test(.router) { client async throws in
            // Alternate early and late pages and keep the fastest of each: robust to a loaded machine.
            func timePage(_ cursor: String) async throws -> Duration {
                let started = ContinuousClock.now
                let answer = try await client.page(simulator, clock: clock, next: cursor)
                #expect(answer.isOK)
                return ContinuousClock.now - started
            }
            var earlyTime = Duration.seconds(1000), lateTime = Duration.seconds(1000)
            for _ in 0..<5 {
                earlyTime = min(earlyTime, try await timePage(early))
                lateTime = min(lateTime, try await timePage(late))
            }

            // The last pages of the listing.
            let lastPages = try await client.page(simulator, clock: clock, next: late).page()
            #expect(lastPages.subscribers.first?.account == "user00999600")
            #expect(lastPages.subscribers.count == 200)
            let final = try await client.page(simulator, clock: clock, next: try #require(lastPages.next)).page()
            #expect(final.subscribers.last?.account == "user00999999")
            #expect(final.next == "")
            #expect(final.subscriberNum == 1_000_000)
            print("seed 1,000,000: \(seedTime); page early \(earlyTime), late \(lateTime) (the fastest of five)")

            // Changes to a big listing (a memmove, not a rebuild) keep it sorted and counted.
            var changeTime = Duration.seconds(1000)
            for round in 0..<5 {
                let changeStart = ContinuousClock.now
                simulator.addSubscribers(account: SimFixture.account, [SubscriberInfo(account: "user00500000-new\(round)")])
                simulator.removeSubscribers(account: SimFixture.account, [TencentSimulator.seededAccount(prefix: "user", index: round)])
                changeTime = min(changeTime, ContinuousClock.now - changeStart)
            }
            print("a change to a million: \(changeTime) (the fastest of five)")
            #expect(simulator.subscriberCount(of: SimFixture.account) == 1_000_000)
            let middle = simulator.cursors.encode(.init(account: SimFixture.account, position: .after(TencentSimulator.seededAccount(prefix: "user", index: 499_999)), page: 2500))
            let added = try await client.page(simulator, clock: clock, next: middle).page()
            #expect(added.subscribers.prefix(7).map(\.account) == ["user00500000"] + (0..<5).map { "user00500000-new\($0)" } + ["user00500001"])
            let first = try await client.page(simulator, clock: clock, next: "").page()
            #expect(first.subscribers.first?.account == "user00000005")
            #expect(first.subscriberNum == 1_000_000)
        }
    }
}
