import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import SubscriberSync
@testable import TencentSimulator

/// The per-second call limit: a sliding window over accepted calls, 60007 beyond it.
@Suite("Simulator: rate limit")
struct SimulatorRateLimitTests {
    typealias Code = TencentSimulator.ErrorCode

    @Test("more than N calls within a second → 60007; the window slides")
    func slidingWindow() async throws {
        let clock = FakeClock(milliseconds: 1_700_000_000_000)
        let simulator = SimFixture.simulator(clock: clock, callsPerSecond: 200)
        simulator.seed(account: SimFixture.account, count: 10)
        let query = SimFixture.query(usersig: try SimFixture.userSig(clock: clock))
        let t0 = clock.nowMilliseconds()
        try await simulator.testApplication().test(.router) { client async throws in
            func call() async throws -> SimAnswer {
                try await client.post(SimFixture.subscriberPath, query: query, body: SimFixture.body())
            }
            for index in 0..<200 {
                let answer = try await call()
                #expect(answer.isOK, "call \(index): \(answer.text)")
            }
            let refused = try await call()
            #expect(refused.isRefusal(Code.rateLimited), "\(refused.text)")
            #expect(refused.status == 200)
            clock.advance(milliseconds: 999)
            #expect(try await call().isRefusal(Code.rateLimited))
            clock.advance(milliseconds: 1)
            #expect(try await call().isOK, "the calls at t0 left the window")
            // A fixed window would allow another burst here; the sliding one does not.
            clock.set(milliseconds: t0 + 1_900)
            for _ in 0..<199 { _ = try await call() }
            #expect(try await call().isRefusal(Code.rateLimited))
        }
        let stats = simulator.stats
        #expect(stats.acceptedCalls == 400)
        #expect(stats.rateLimitedCalls == 3)
        #expect(stats.errorCodes[Code.rateLimited] == 3)
        #expect(stats.maxCallsInOneSecond == 200)
        let log = simulator.callLog
        #expect(log.count == 400)
        #expect(log.first == t0 && log.last == t0 + 1_900)
        #expect(simulator.maxCalls(inAnyWindowOf: 1000) == 200)
        #expect(simulator.maxCalls(inAnyWindowOf: 2000) == 400)
    }

    @Test("the maximum reported is the busiest sliding second, not a calendar second")
    func maximumAcrossBoundaries() async throws {
        let clock = FakeClock(milliseconds: 1_700_000_000_000)
        let simulator = SimFixture.simulator(clock: clock, callsPerSecond: 1000)
        simulator.seed(account: SimFixture.account, count: 1)
        let query = SimFixture.query(usersig: try SimFixture.userSig(clock: clock))
        try await simulator.testApplication().test(.router) { client async throws in
            // 30 calls at 0.8 s and 30 at 1.2 s: two calendar seconds of 30, one sliding second of 60.
            clock.advance(milliseconds: 800)
            for _ in 0..<30 { _ = try await client.post(SimFixture.subscriberPath, query: query, body: SimFixture.body()) }
            clock.advance(milliseconds: 400)
            for _ in 0..<30 { _ = try await client.post(SimFixture.subscriberPath, query: query, body: SimFixture.body()) }
        }
        #expect(simulator.stats.maxCallsInOneSecond == 60)
        #expect(simulator.maxCalls(inAnyWindowOf: 1000) == 60)
        #expect(simulator.maxCalls(inAnyWindowOf: 400) == 30)
        simulator.resetStats()
        #expect(simulator.stats == TencentSimulator.Stats())
        #expect(simulator.callLog.isEmpty)
    }

    @Test("with the real clock: a burst over the limit is cut at the limit")
    func realClockBurst() async throws {
        let limit = 3
        let simulator = TencentSimulator(sdkAppID: SimFixture.sdkAppID, adminIdentifier: SimFixture.admin, secretKey: SimFixture.key, callsPerSecond: limit)
        simulator.seed(account: SimFixture.account, count: 1)
        let query = SimFixture.query(usersig: try simulator.makeUserSig())
        let started = ContinuousClock.now
        let outcomes = try await simulator.testApplication().test(.router) { client async throws -> [Int] in
            var outcomes: [Int] = []
            for _ in 0..<30 {
                outcomes.append(try await client.post(SimFixture.subscriberPath, query: query, body: SimFixture.body()).errorCode ?? -1)
            }
            return outcomes
        }
        // However slowly a loaded machine runs the burst, no second holds more than the limit.
        let elapsed = ContinuousClock.now - started
        let accepted = outcomes.filter { $0 == 0 }.count
        #expect(accepted + outcomes.filter { $0 == Code.rateLimited }.count == 30)
        #expect(accepted <= limit * (Int(elapsed.components.seconds) + 1), "\(accepted) accepted in \(elapsed)")
        #expect(simulator.stats.maxCallsInOneSecond == limit)
        #expect(simulator.maxCalls(inAnyWindowOf: 1000) == limit)
        #expect(simulator.callLog.count == accepted)
        if elapsed < .seconds(9) { #expect(simulator.stats.rateLimitedCalls > 0) }
    }

    @Test("refused-before-the-limiter calls do not use up the budget")
    func refusedCallsDoNotCount() async throws {
        let clock = FakeClock(milliseconds: 1_700_000_000_000)
        let simulator = SimFixture.simulator(clock: clock, callsPerSecond: 2)
        simulator.seed(account: SimFixture.account, count: 1)
        try await simulator.testApplication().test(.router) { client async throws in
            for _ in 0..<5 {
                _ = try await client.post(SimFixture.subscriberPath, query: SimFixture.query(usersig: "bad"), body: SimFixture.body())
            }
            #expect(try await client.page(simulator, clock: clock).isOK)
            #expect(try await client.page(simulator, clock: clock).isOK)
            #expect(try await client.page(simulator, clock: clock).isRefusal(Code.rateLimited))
        }
    }
}
