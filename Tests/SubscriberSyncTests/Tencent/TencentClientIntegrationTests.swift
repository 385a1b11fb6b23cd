import Foundation
import Logging
import Testing
import TencentSimulator
@testable import SubscriberSync

/// The production client against the simulator over loopback HTTP.
@Suite struct TencentClientIntegrationTests {
    let account = "@TOA#_big"

    /// Pages a whole account; returns the subscribers in order and the number of pages.
    func pageAll(_ client: TencentClient) async throws -> (subscribers: [String], pages: Int, subscriberNum: Int64?) {
        var next = ""
        var names: [String] = []
        var pages = 0
        var subscriberNum: Int64?
        repeat {
            let page = try await client.getSubscriberInfo(GetSubscriberInfoRequest(officialAccount: account, next: next))
            pages += 1
            names += page.subscribers.map(\.account)
            subscriberNum = page.subscriberNum
            next = try #require(page.next)
        } while !next.isEmpty
        return (names, pages, subscriberNum)
    }

    @Test func pagesTenThousandSubscribersWithoutExceedingTheLimit() async throws {
        let h = try await SimulatorHarness(callsPerSecond: 40)
        h.simulator.seed(account: account, count: 10_000)
        let expected = try #require(h.simulator.subscribers(of: account)).map(\.account)
        // 10% headroom, as the default 180 against Tencent's 200: the margin absorbs the time
        // between a pacer grant and the call reaching the server.
        let (names, pages, subscriberNum) = try await pageAll(h.client(rateLimit: 36))
        #expect(pages == 50)
        #expect(names == expected)
        #expect(Set(names).count == 10_000)
        #expect(subscriberNum == 10_000)
        #expect(h.simulator.stats.rateLimitedCalls == 0)
        #expect(h.simulator.maxCalls(inAnyWindowOf: 1000) <= 40)
    }

    @Test func ridesOutInjectedFaults() async throws {
        let h = try await SimulatorHarness()
        h.simulator.seed(account: account, count: 10_000)
        let simulator = h.simulator
        h.simulator.onPageServed = { _, index in
            switch index % 10 {
            case 1: simulator.inject(.httpStatus(502))
            case 3: simulator.inject(.garbage)
            case 5: simulator.inject(.errorCode(70500, info: "internal error"))
            case 7: simulator.inject(.truncated)
            case 9: simulator.inject(.errorCode(60008, info: "timeout"))
            default: break
            }
        }
        let (names, pages, _) = try await pageAll(h.client())
        #expect(Set(names).count == 10_000)
        #expect(pages == 50)
        #expect(h.simulator.stats.faultsServed >= 20)
    }

    /// Runs apart from the load tests: beside one, a fresh-clone CI run saw five answers in a row
    /// take longer than the timeout.
    @Test func slowAnswersTimeOutAndAreRetried() async throws {
        try await HeavyTests.oneAtATime { try await slowAnswers() }
    }

    func slowAnswers() async throws {
        let h = try await SimulatorHarness()
        h.simulator.seed(account: account, count: 300)
        // A timeout above a busy machine's answer time, and a delay far above the timeout.
        h.simulator.inject(.delay(.seconds(30)))
        let started = ContinuousClock.now
        let (names, pages, _) = try await pageAll(h.client(timeout: .seconds(3)))
        #expect(names.count == 300)
        #expect(h.simulator.stats.acceptedCalls > pages, "the slow call was retried")
        #expect(ContinuousClock.now - started < .seconds(30), "the slow answer was abandoned, not waited for")
    }

    /// Runs apart from the load tests: it needs answers faster than the simulator's 1 call/s.
    @Test func rateLimitAnswersSlowTheClientDown() async throws {
        try await HeavyTests.oneAtATime { try await rateLimitAnswers() }
    }

    func rateLimitAnswers() async throws {
        // 1 call/s: a client pacing at 40/s is faster than that even when every answer takes
        // most of a second on a loaded machine.
        let h = try await SimulatorHarness(callsPerSecond: 1)
        h.simulator.seed(account: account, count: 2_000)
        let client = h.client(rateLimit: 40, maxAttempts: 10)
        let (names, _, _) = try await pageAll(client)
        #expect(names.count == 2_000)
        #expect(h.simulator.stats.rateLimitedCalls > 0, "the client was faster than the simulator allows at first")
        #expect(client.pacer.currentLimit < 40, "and lowered its pace when told")
    }

    @Test func expiredUserSigIsRenewedOnce() async throws {
        let h = try await SimulatorHarness()
        h.simulator.seed(account: account, count: 10)
        // No client-side timeout on a loaded machine: a call abandoned and retried would use up an
        // injected answer meant for the next attempt (a fresh-clone CI run saw no error thrown).
        let patient = h.client(timeout: .seconds(120))
        h.simulator.inject(.errorCode(70001, info: "usersig expired"))
        let (names, _, _) = try await pageAll(patient)
        #expect(names.count == 10)

        h.simulator.inject(.errorCode(70001, info: "usersig expired"), times: 2)
        await #expect {
            _ = try await h.client(timeout: .seconds(120)).getSubscriberInfo(GetSubscriberInfoRequest(officialAccount: account, next: ""))
        } throws: { error in
            let error = error as? TencentCallError
            return error?.errorCode == 70001 && error?.attempts == 2
        }
    }

    @Test func wrongKeyFailsAtOnceWithAdvice() async throws {
        let h = try await SimulatorHarness()
        h.simulator.seed(account: account, count: 10)
        let client = TencentClient(
            configuration: TencentClientConfiguration(baseURL: h.baseURL, sdkAppID: SimulatorHarness.sdkAppID, identifier: "administrator", secretKey: "not-the-key"),
            logger: Logger(label: "test")
        )
        await #expect {
            _ = try await client.getSubscriberInfo(GetSubscriberInfoRequest(officialAccount: account, next: ""))
        } throws: { error in
            let error = error as? TencentCallError
            return error?.errorCode == 70009 && error?.attempts == 1 && error?.message.contains("secret key") == true
                && error?.description.contains("not-the-key") == false
        }
    }

    @Test func unknownAccountFails() async throws {
        let h = try await SimulatorHarness()
        await #expect(throws: TencentCallError.self) {
            _ = try await h.client().getSubscriberInfo(GetSubscriberInfoRequest(officialAccount: "@TOA#_nobody", next: ""))
        }
    }

    @Test func accountInfoInChunksOfFifty() async throws {
        let h = try await SimulatorHarness()
        let accounts = (0..<60).map { "@TOA#_a\($0)" }
        for (index, name) in accounts.enumerated() {
            h.simulator.createAccount(name)
            h.simulator.seed(account: name, count: index, prefix: "u")
        }
        for echoes in [true, false] {
            h.simulator.echoesOfficialAccount = echoes
            h.simulator.resetStats()
            let info = try await h.client().getOfficialAccountInfo(accounts: accounts)
            #expect(info.count == 60)
            #expect(info["@TOA#_a42"]?.subscriberNum == 42)
            #expect(h.simulator.stats.calls[.getOfficialAccountInfo] == 2)
        }
    }
}
