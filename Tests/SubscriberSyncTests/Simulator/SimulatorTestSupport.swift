import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import SubscriberSync
@testable import TencentSimulator

/// The app the simulator tests play: the official test key and SDKAppID of Tencent's repos.
enum SimFixture {
    static let sdkAppID: UInt64 = 1_400_000_000
    static let admin = "administrator"
    static let key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
    static let account = "@TOA#_test_for_penn"
    static let subscriberPath = TencentSimulator.API.getSubscriberInfo.path
    static let accountInfoPath = TencentSimulator.API.getOfficialAccountInfo.path

    static func simulator(clock: FakeClock = FakeClock(), callsPerSecond: Int = 200,
                          paging: TencentSimulator.PagingMode = .keyset) -> TencentSimulator {
        TencentSimulator(sdkAppID: sdkAppID, adminIdentifier: admin, secretKey: key, callsPerSecond: callsPerSecond,
                         pagingMode: paging, clock: clock)
    }

    /// A UserSig as a client makes it, at the fake clock's time unless `now` is given.
    static func userSig(clock: FakeClock, key: String = key, sdkAppID: UInt64 = sdkAppID, identifier: String = admin,
                        expire: Int64 = 86_400, now: Int64? = nil) throws -> String {
        try UserSig.make(key: key, sdkAppID: sdkAppID, identifier: identifier, expire: expire, now: now ?? clock.nowMilliseconds() / 1000)
    }

    /// The REST query string; pass nil to leave a parameter out.
    static func query(sdkappid: String? = "1400000000", identifier: String? = admin, usersig: String?,
                      random: String? = "2207835347", contenttype: String? = "json") -> String {
        [("sdkappid", sdkappid), ("identifier", identifier), ("usersig", usersig), ("random", random), ("contenttype", contenttype)]
            .compactMap { name, value in value.map { "\(name)=\($0)" } }
            .joined(separator: "&")
    }

    static func body(account: String = account, limit: Int? = 200, next: String = "") -> String {
        var object: [String: Any] = ["Official_Account": account, "Next": next]
        if let limit { object["Limit"] = limit }
        return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }
}

/// A decoded answer: the envelope, the raw text, and the page when there is one.
struct SimAnswer {
    var status: Int
    var contentType: String?
    var text: String
    var json: [String: Any]?

    init(_ response: TestResponse) {
        status = Int(response.status.code)
        contentType = response.headers[.contentType]
        text = String(buffer: response.body)
        json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    var actionStatus: String? { json?["ActionStatus"] as? String }
    var errorCode: Int? { json?["ErrorCode"] as? Int }
    var errorInfo: String? { json?["ErrorInfo"] as? String }
    var isOK: Bool { status == 200 && actionStatus == "OK" && errorCode == 0 }

    /// A Tencent-level refusal: HTTP 200, FAIL, this code, and some ErrorInfo.
    func isRefusal(_ code: Int) -> Bool {
        status == 200 && actionStatus == "FAIL" && errorCode == code && !(errorInfo ?? "").isEmpty
    }

    func page() throws -> SubscriberPage {
        try JSONDecoder().decode(SubscriberPage.self, from: Data(text.utf8))
    }

    func envelope() throws -> TencentEnvelope {
        try JSONDecoder().decode(TencentEnvelope.self, from: Data(text.utf8))
    }
}

extension TestClientProtocol {
    func post(_ path: String, query: String, body: String) async throws -> SimAnswer {
        try await execute(uri: "\(path)?\(query)", method: .post, headers: [.contentType: "application/json"],
                          body: ByteBuffer(string: body)) { SimAnswer($0) }
    }

    /// One `get_subscriber_info` call with a valid admin UserSig.
    func page(_ simulator: TencentSimulator, clock: FakeClock, account: String = SimFixture.account, limit: Int? = 200,
              next: String = "") async throws -> SimAnswer {
        try await post(SimFixture.subscriberPath, query: SimFixture.query(usersig: SimFixture.userSig(clock: clock)),
                       body: SimFixture.body(account: account, limit: limit, next: next))
    }

    /// Pages through an account; returns every page's answer.
    func scan(_ simulator: TencentSimulator, clock: FakeClock, account: String = SimFixture.account, limit: Int = 200,
              maxPages: Int = 100_000) async throws -> [SubscriberPage] {
        var pages: [SubscriberPage] = []
        var next = ""
        repeat {
            clock.advance(milliseconds: 10)
            let answer = try await page(simulator, clock: clock, account: account, limit: limit, next: next)
            #expect(answer.isOK, "page \(pages.count): \(answer.text.prefix(300))")
            guard answer.isOK else { break }
            let page = try answer.page()
            pages.append(page)
            next = try #require(page.next)
        } while !next.isEmpty && pages.count < maxPages
        return pages
    }
}

extension TencentSimulator {
    func testApplication() -> some ApplicationProtocol {
        Application(router: router())
    }
}
