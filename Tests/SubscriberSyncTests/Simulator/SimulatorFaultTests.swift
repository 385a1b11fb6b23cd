import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import SubscriberSync
@testable import TencentSimulator

/// Faults on demand: each kind, counts, targeting, and random faults.
@Suite("Simulator: faults")
struct SimulatorFaultTests {
    let clock = FakeClock(milliseconds: 1_700_000_000_000)
    typealias Code = TencentSimulator.ErrorCode

    func makeSimulator() -> TencentSimulator {
        let simulator = SimFixture.simulator(clock: clock)
        simulator.seed(account: SimFixture.account, count: 500)
        return simulator
    }

    @Test("502 with an HTML body, then normal service")
    func httpStatus() async throws {
        let simulator = makeSimulator()
        simulator.inject(.httpStatus(502))
        try await simulator.testApplication().test(.router) { client async throws in
            let answer = try await client.page(simulator, clock: clock)
            #expect(answer.status == 502)
            #expect(answer.contentType == "text/html")
            #expect(answer.text.contains("502 Bad Gateway"))
            #expect(answer.json == nil)
            #expect(try await client.page(simulator, clock: clock).isOK)
        }
        #expect(simulator.stats.faultsServed == 1)
        #expect(simulator.stats.acceptedCalls == 2, "a faulted call reached Tencent and counts against the limit")
    }

    @Test("garbage: HTTP 200, JSON content type, not JSON")
    func garbage() async throws {
        let simulator = makeSimulator()
        simulator.inject(.garbage)
        try await simulator.testApplication().test(.router) { client async throws in
            let answer = try await client.page(simulator, clock: clock)
            #expect(answer.status == 200)
            #expect(answer.contentType == "application/json")
            #expect(answer.json == nil)
            #expect(throws: (any Error).self) { try answer.page() }
        }
    }

    @Test("truncated: the real answer cut in half")
    func truncated() async throws {
        let simulator = makeSimulator()
        simulator.inject(.truncated)
        try await simulator.testApplication().test(.router) { client async throws in
            let answer = try await client.page(simulator, clock: clock)
            #expect(answer.status == 200)
            #expect(answer.text.hasPrefix(#"{"ActionStatus":"OK""#))
            #expect(answer.json == nil)
        }
    }

    @Test("error codes: 70500, 60008, 70001, 60007 as FAIL envelopes", arguments: [70500, 60008, 70001, 60007])
    func errorCodes(code: Int) async throws {
        let simulator = makeSimulator()
        simulator.inject(.errorCode(code, info: "injected \(code)"))
        try await simulator.testApplication().test(.router) { client async throws in
            let answer = try await client.page(simulator, clock: clock)
            #expect(answer.isRefusal(code), "\(answer.text)")
            #expect(answer.errorInfo == "injected \(code)")
            #expect(try await client.page(simulator, clock: clock).isOK)
        }
        #expect(simulator.stats.errorCodes[code] == 1)
        #expect(simulator.stats.rateLimitedCalls == 0, "an injected 60007 is not the limiter's")
    }

    @Test("delay: answers correctly, slowly")
    func delay() async throws {
        let simulator = makeSimulator()
        simulator.inject(.delay(.milliseconds(300)))
        defer { #expect(simulator.stats.faultsServed == 1 && simulator.pendingFaults == 0) }
        try await simulator.testApplication().test(.router) { client async throws in
            let started = ContinuousClock.now
            let answer = try await client.page(simulator, clock: clock)
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            #expect(answer.isOK)
            #expect(try answer.page().subscribers.count == 200)
            #expect(try await client.page(simulator, clock: clock).isOK)
        }
    }

    @Test("times, order, targeting; refused calls do not consume faults")
    func queueing() async throws {
        let simulator = makeSimulator()
        simulator.inject(.httpStatus(503), times: 2)
        simulator.inject(.garbage, on: .getOfficialAccountInfo)
        simulator.inject(.errorCode(70500, info: "internal"))
        #expect(simulator.pendingFaults == 4)
        let query = SimFixture.query(usersig: try SimFixture.userSig(clock: clock))
        let infoBody = #"{"OfficialAccountIdList":[{"Official_Account":"@TOA#_test_for_penn"}]}"#
        try await simulator.testApplication().test(.router) { client async throws in
            // A refused call takes no fault.
            #expect(try await client.post(SimFixture.subscriberPath, query: SimFixture.query(usersig: "x"), body: "{}").isRefusal(Code.userSigUndecodable))
            #expect(try await client.page(simulator, clock: clock).status == 503)
            #expect(try await client.page(simulator, clock: clock).status == 503)
            // The garbage fault waits for its command; 70500 is next for this one.
            #expect(try await client.page(simulator, clock: clock).isRefusal(70500))
            #expect(try await client.page(simulator, clock: clock).isOK)
            #expect(try await client.post(SimFixture.accountInfoPath, query: query, body: infoBody).json == nil)
            #expect(try await client.post(SimFixture.accountInfoPath, query: query, body: infoBody).isOK)
        }
        #expect(simulator.pendingFaults == 0)
        simulator.inject(.garbage, times: 3)
        simulator.clearFaults()
        #expect(simulator.pendingFaults == 0)
    }

    @Test("random faults at rate 1 and 0")
    func randomFaults() async throws {
        let simulator = makeSimulator()
        simulator.setRandomFaults(rate: 1, among: [.garbage])
        try await simulator.testApplication().test(.router) { client async throws in
            for _ in 0..<5 { #expect(try await client.page(simulator, clock: clock).json == nil) }
            simulator.setRandomFaults(rate: 0)
            for _ in 0..<5 { #expect(try await client.page(simulator, clock: clock).isOK) }
        }
        #expect(simulator.stats.faultsServed == 5)
    }

    @Test("a cursor survives a fault: retrying the same Next gives the same page")
    func retryAfterFault() async throws {
        let simulator = makeSimulator()
        try await simulator.testApplication().test(.router) { client async throws in
            let first = try await client.page(simulator, clock: clock).page()
            let next = try #require(first.next)
            let expected = try await client.page(simulator, clock: clock, next: next).page()
            simulator.inject(.httpStatus(502))
            #expect(try await client.page(simulator, clock: clock, next: next).status == 502)
            let retried = try await client.page(simulator, clock: clock, next: next).page()
            #expect(retried.subscribers == expected.subscribers)
        }
    }
}
