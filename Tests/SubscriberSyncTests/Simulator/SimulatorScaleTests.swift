import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import SubscriberSync
@testable import TencentSimulator

/// A million subscribers: seeding takes seconds, and a page costs the same at the end of the
/// listing as at its start (keyset: binary search + slice, never O(n)).
@Suite("Simulator: scale", .serialized)
struct SimulatorScaleTests {
    /// Only relative costs are checked (a machine under load makes any absolute bound flaky); it
    /// runs apart from the load tests so that its fastest-of-30 timings mean something.
    @Test("seed 1,000,000, then pages deep in the listing cost what the first ones cost")
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
            for _ in 0..<30 {
                earlyTime = min(earlyTime, try await timePage(early))
                lateTime = min(lateTime, try await timePage(late))
            }
            #expect(lateTime < earlyTime * 3 + .milliseconds(2), "early \(earlyTime), late \(lateTime) per page")

            // The last pages of the listing.
            let lastPages = try await client.page(simulator, clock: clock, next: late).page()
            #expect(lastPages.subscribers.first?.account == "user00999600")
            #expect(lastPages.subscribers.count == 200)
            let final = try await client.page(simulator, clock: clock, next: try #require(lastPages.next)).page()
            #expect(final.subscribers.last?.account == "user00999999")
            #expect(final.next == "")
            #expect(final.subscriberNum == 1_000_000)
            print("seed 1,000,000: \(seedTime); page early \(earlyTime), late \(lateTime)")
        }
        // A change to a big listing is a memmove, not a rebuild. The fastest of five, like the
        // pages: one measurement on a loaded machine once took longer than a fifth of the seed.
        var changeTime = Duration.seconds(1000)
        for round in 0..<5 {
            let changeStart = ContinuousClock.now
            simulator.addSubscribers(account: SimFixture.account, [SubscriberInfo(account: "user00500000-new\(round)")])
            simulator.removeSubscribers(account: SimFixture.account, [TencentSimulator.seededAccount(prefix: "user", index: round)])
            changeTime = min(changeTime, ContinuousClock.now - changeStart)
        }
        #expect(changeTime < seedTime / 5, "a change took \(changeTime), seeding a million \(seedTime)")
        #expect(simulator.subscriberCount(of: SimFixture.account) == 1_000_000)
    }
}
