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
        let wallClock = SystemWallClock()
        /// One call as the client saw it: its outcome, between which two wall-clock instants (ms).
        struct Call { var errorCode: Int; var sent: Int64; var answered: Int64 }
        let calls = try await simulator.testApplication().test(.router) { client async throws -> [Call] in
            var calls: [Call] = []
            for _ in 0..<30 {
                let sent = wallClock.nowMilliseconds()
                let code = try await client.post(SimFixture.subscriberPath, query: query, body: SimFixture.body()).errorCode ?? -1
                calls.append(Call(errorCode: code, sent: sent, answered: wallClock.nowMilliseconds()))
            }
            return calls
        }
        // However fast or slowly the machine runs the burst, every answer must be the one the
        // sliding window gives for the calls the simulator accepted (its log), so nothing here
        // depends on timing: what was refused, was refused with `limit` calls in the second before.
        let accepted = calls.filter { $0.errorCode == 0 }
        let refused = calls.filter { $0.errorCode == Code.rateLimited }
        #expect(accepted.count + refused.count == 30, "other answers: \(calls.map(\.errorCode))")
        #expect(calls.prefix(limit).allSatisfy { $0.errorCode == 0 }, "the first \(limit) calls fit in an empty window")
        let log = simulator.callLog
        #expect(log.count == accepted.count)
        #expect(simulator.stats.acceptedCalls == accepted.count)
        #expect(simulator.stats.rateLimitedCalls == refused.count, "the simulator counts the refusals it answered")
        #expect(simulator.stats.errorCodes[Code.rateLimited, default: 0] == refused.count)
        // Never more than the limit in any second.
        #expect(simulator.maxCalls(inAnyWindowOf: 1000) <= limit)
        #expect(simulator.stats.maxCallsInOneSecond <= limit)
        // Each accepted call is in the log within the time the client waited for it.
        for (call, time) in zip(accepted, log) {
            #expect(time >= call.sent && time <= call.answered, "accepted at \(time), asked between \(call.sent) and \(call.answered)")
        }
        // Each refusal: the window (t − 1 s, t] held `limit` accepted calls at some t while it waited.
        for call in refused {
            let inWindow = log.filter { $0 > call.sent - 1000 && $0 <= call.answered }.count
            #expect(inWindow >= limit, "refused between \(call.sent) and \(call.answered) with only \(inWindow) accepted calls in the second before")
        }
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
