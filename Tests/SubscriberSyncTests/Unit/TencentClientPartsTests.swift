import Foundation
import Testing
@testable import SubscriberSync

@Suite struct TencentErrorClassificationTests {
    /// Every code the protocol reference lists, with the disposition it calls for.
    static let expected: [Int: CallDisposition] = [
        60002: .fail, 60003: .fail, 60004: .fail, 60005: .fail, 60006: .fail, 60007: .slowDown, 60008: .retry,
        60009: .fail, 60010: .fail, 60011: .slowDown, 60012: .fail, 60013: .retry, 60014: .retry, 60015: .fail,
        60016: .fail, 60017: .fail, 60018: .slowDown, 60019: .slowDown, 60020: .fail, 60021: .fail,
        70001: .resign, 70002: .fail, 70003: .resign, 70005: .resign, 70009: .fail, 70013: .fail, 70014: .fail,
        70016: .fail, 70020: .fail, 70050: .fail, 70051: .fail, 70052: .resign, 70107: .fail, 70169: .retry,
        70402: .fail, 70403: .fail, 70500: .retry, 6017: .fail, 10004: .retry, 20001: .fail, 20005: .retry, 130002: .fail,
    ]

    @Test(arguments: expected.keys.sorted())
    func documentedCode(_ code: Int) {
        let error = TencentCallError(kind: .tencent(code), command: "get_subscriber_info", attempts: 1, message: "")
        #expect(error.disposition == Self.expected[code])
        #expect(TencentErrorCatalog.entries[code]?.advice.isEmpty == false)
    }

    @Test func catalogHasNoCodeTheTestDoesNotKnow() {
        #expect(Set(TencentErrorCatalog.entries.keys) == Set(Self.expected.keys))
    }

    @Test func transportOutcomes() {
        func disposition(_ kind: TencentCallError.Kind) -> CallDisposition {
            TencentCallError(kind: kind, command: "c", attempts: 1, message: "").disposition
        }
        #expect(disposition(.network) == .retry)
        #expect(disposition(.timeout) == .retry)
        #expect(disposition(.unparseable) == .retry)
        #expect(disposition(.httpStatus(502)) == .retry)
        #expect(disposition(.httpStatus(503)) == .retry)
        #expect(disposition(.httpStatus(429)) == .slowDown)
        #expect(disposition(.httpStatus(404)) == .fail)
        #expect(disposition(.httpStatus(403)) == .fail)
        #expect(disposition(.tencent(99999)) == .fail)
    }
}

@Suite struct PacerTests {
    /// No one-second window holds more than the limit, including the initial burst.
    @Test func neverMoreThanLimitInAnySecond() async throws {
        let pacer = Pacer(limit: 40, windowMargin: .zero)
        let clock = ContinuousClock()
        let start = clock.now
        let grants = try await withThrowingTaskGroup(of: Duration.self) { group in
            for _ in 0..<130 {
                group.addTask {
                    try await pacer.acquire()
                    return clock.now - start
                }
            }
            var grants: [Duration] = []
            for try await grant in group { grants.append(grant) }
            return grants.sorted()
        }
        #expect(grants.count == 130)
        for (index, grant) in grants.enumerated() where index >= 40 {
            #expect(grant - grants[index - 40] >= .seconds(1), "grant \(index) is within a second of grant \(index - 40)")
        }
        // 130 calls at 40/s need three full windows after the first burst (a loaded machine may
        // take longer, never shorter).
        #expect(grants.last! >= .seconds(3))
    }

    @Test func slowDownHalvesThePaceAndRecovers() async throws {
        let pacer = Pacer(limit: 100, recoveryInterval: .milliseconds(100))
        pacer.slowDown()
        #expect(pacer.currentLimit == 50)
        pacer.slowDown()
        #expect(pacer.currentLimit == 25)
        try await Task.sleep(for: .milliseconds(150))
        try await pacer.acquire()
        #expect(pacer.currentLimit == 35)
    }
}

@Suite struct BackoffTests {
    @Test func growsExponentiallyWithinJitterBoundsAndCaps() {
        let backoff = Backoff(base: .milliseconds(100), cap: .seconds(1))
        #expect(backoff.delay(attempt: 1, random: 0) == .milliseconds(50))
        #expect(backoff.delay(attempt: 1, random: 1) == .milliseconds(100))
        #expect(backoff.delay(attempt: 3, random: 0) == .milliseconds(200))
        #expect(backoff.delay(attempt: 3, random: 1) == .milliseconds(400))
        #expect(backoff.delay(attempt: 10, random: 1) == .seconds(1))
        #expect(backoff.delay(attempt: 64, random: 0) == .milliseconds(500))
        for attempt in 1...8 {
            let delay = Backoff.transient.delay(attempt: attempt)
            #expect(delay > .zero && delay <= Backoff.transient.cap)
        }
    }
}

@Suite struct TencentAPIModelTests {
    @Test func decodesTheDocumentedPage() throws {
        let page = try JSONDecoder().decode(SubscriberPage.self, from: Resources.data("rest-get-subscriber-info.response.page.json"))
        #expect(page.next == "TGSOTk=")
        #expect(page.subscriberNum == 780_031)
        #expect(page.subscribers == [SubscriberInfo(account: "millaccount13356", subscribeTime: 1_698_821_747, customString: "", msgFlag: "AcceptAndNotify", lastSendMsgTime: 0)])
        let last = try JSONDecoder().decode(SubscriberPage.self, from: Resources.data("rest-get-subscriber-info.response.last-page.json"))
        #expect(last.next == "")
    }

    @Test func lenientFields() throws {
        let json = #"{"Next":"","SubscriberNum":"3","SubscriberList":[{"Subscriber_Account":"a","MsgFlag":1,"SubscribeTime":"5","Unknown":true}],"Extra":{}}"#
        let page = try JSONDecoder().decode(SubscriberPage.self, from: Data(json.utf8))
        #expect(page.subscriberNum == 3)
        #expect(page.subscribers.first?.msgFlag == "1")
        #expect(page.subscribers.first?.subscribeTime == 5)
    }

    @Test func requestUsesTencentsFieldNames() throws {
        let request = try JSONEncoder().encode(GetSubscriberInfoRequest(officialAccount: "@TOA#_test_for_penn", next: ""))
        let object = try #require(try JSONSerialization.jsonObject(with: request) as? [String: Any])
        let recorded = try Resources.json("rest-get-subscriber-info.request.first.json")
        #expect(NSDictionary(dictionary: object).isEqual(to: recorded))
        let info = try JSONEncoder().encode(GetOfficialAccountInfoRequest(accounts: ["@TOA#_a"]))
        #expect(String(decoding: info, as: UTF8.self).contains(#""OfficialAccountIdList":[{"Official_Account":"@TOA#_a"}]"#))
    }

    @Test func regions() {
        #expect(TencentRegion(rawValue: "silicon-valley")?.host == "adminapiusa.im.qcloud.com")
        #expect(TencentRegion.china.baseURL == "https://console.tim.qq.com")
        #expect(TencentRegion.allCases.count == 8)
    }
}
