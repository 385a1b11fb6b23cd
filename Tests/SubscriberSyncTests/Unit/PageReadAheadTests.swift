import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
@testable import SubscriberSync

/// The read-ahead of a paging's next page: handed out once, for its own cursor and limit, only
/// while young, never when its read failed; and, through the endpoints over a real store, a
/// page answered as of its read.
@Suite struct PageReadAheadTests {
    typealias Key = PageReadAhead<Int>.Key
    let key = Key(account: "@TOA#_a", after: "s1", limit: 2)

    @Test func aPageIsHandedOutOnceAndOnlyForItsOwnCursorAndLimit() async {
        let readAhead = PageReadAhead<Int>(maxAge: .seconds(3600))
        readAhead.start(key) { 7 }
        #expect(await readAhead.take(Key(account: "@TOA#_a", after: "s2", limit: 2)) == nil, "another cursor")
        #expect(await readAhead.take(Key(account: "@TOA#_a", after: "s1", limit: 3)) == nil, "another limit")
        #expect(await readAhead.take(Key(account: "@TOA#_b", after: "s1", limit: 2)) == nil, "another account")
        #expect(await readAhead.take(key) == 7)
        #expect(await readAhead.take(key) == nil, "handed out once")
    }

    @Test func aRequestWaitsForTheReadInFlight() async {
        let readAhead = PageReadAhead<Int>(maxAge: .seconds(3600))
        let (gate, open) = AsyncStream<Int>.makeStream()
        readAhead.start(key) { await gate.first { _ in true } }
        let taking = Task { await readAhead.take(key) }
        open.yield(9)
        #expect(await taking.value == 9)
    }

    @Test func aPageOlderThanMaxAgeIsNotHandedOut() async {
        let readAhead = PageReadAhead<Int>(maxAge: .zero)
        readAhead.start(key) { 7 }
        #expect(await readAhead.take(key) == nil)
    }

    @Test func pagesNotAskedForInTimeAreDroppedAtTheNextStart() {
        let young = PageReadAhead<Int>(maxAge: .seconds(3600))
        let old = PageReadAhead<Int>(maxAge: .zero)
        for readAhead in [young, old] {
            for n in 1...3 { readAhead.start(Key(account: "@TOA#_a", after: "s\(n)", limit: 2)) { n } }
        }
        #expect(young.held == 3)
        #expect(old.held == 1, "only the page just started")
    }

    @Test func aFailedOrEmptyReadIsNotHandedOut() async {
        struct Failure: Error {}
        let readAhead = PageReadAhead<Int>(maxAge: .seconds(3600))
        readAhead.start(key) { throw Failure() }
        #expect(await readAhead.take(key) == nil)
        readAhead.start(key) { nil }
        #expect(await readAhead.take(key) == nil)
    }

    @Test func theOldestPageMakesRoomWhenTheSlotsAreFull() async {
        let readAhead = PageReadAhead<Int>(maxAge: .seconds(3600), capacity: 2)
        for n in 1...3 { readAhead.start(Key(account: "@TOA#_a", after: "s\(n)", limit: 2)) { n } }
        #expect(await readAhead.take(Key(account: "@TOA#_a", after: "s1", limit: 2)) == nil)
        #expect(await readAhead.take(Key(account: "@TOA#_a", after: "s2", limit: 2)) == 2)
        #expect(await readAhead.take(Key(account: "@TOA#_a", after: "s3", limit: 2)) == 3)
    }

    // MARK: Through the endpoints

    enum Endpoint: String, CaseIterable, Sendable {
        case compatible, native
    }

    static let account = "@TOA#_readahead"
    static let secretKey = "read-ahead-test-key"
    static let token = "read-ahead-test-token"

    /// Page 1 (s1, s2) is answered and page 2's read ahead has run; then s3 leaves. Page 2 asked
    /// for within `readAheadAge` is the one read before (s3 still in it), and page 3 is read
    /// ahead in turn; with no age allowed, page 2 is read at its request (s3 gone).
    @Test(arguments: Endpoint.allCases, [true, false])
    func theNextPageIsReadWhileThisOneTravels(endpoint: Endpoint, young: Bool) async throws {
        let store = try await StorageEngine.sqlite.makeStore()
        try await store.subscribe(Self.account, ["s1", "s2", "s3", "s4", "s5"], at: 100)
        let reads = CountingReads(store.storage)
        let authenticator = AdminCallAuthenticator(sdkAppID: 1_400_000_000, adminIdentifier: "administrator", secretKey: Self.secretKey)
        let api = ReadAPI(storage: reads, authenticator: authenticator, token: Self.token, clock: SystemWallClock(), logger: Logger(label: "test"),
                          readAheadAge: young ? .seconds(3600) : .zero)
        let usersig = try UserSig.make(key: Self.secretKey, sdkAppID: 1_400_000_000, identifier: "administrator", expire: 3600,
                                       now: Int64(Date().timeIntervalSince1970))
        try await Application(router: api.router()).test(.router) { client in
            func page(after cursor: String) async throws -> (ids: [String], next: String) {
                switch endpoint {
                case .compatible:
                    let body = try JSONSerialization.data(withJSONObject: ["Official_Account": Self.account, "Limit": 2, "Next": cursor])
                    let uri = "\(TencentSubscriberInfoEndpoint.path)?sdkappid=1400000000&identifier=administrator&usersig=\(usersig)&random=1&contenttype=json"
                    return try await client.execute(uri: uri, method: .post, body: ByteBuffer(bytes: body)) { response in
                        let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                        try #require(json["ErrorCode"] as? Int == 0, "\(json)")
                        let list = try #require(json["SubscriberList"] as? [[String: Any]])
                        return (try list.map { try #require($0["Subscriber_Account"] as? String) }, try #require(json["Next"] as? String))
                    }
                case .native:
                    let path = "/v1/official-accounts/\(Self.account.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)/subscribers"
                    return try await client.execute(uri: "\(path)?limit=2&after=\(cursor)", method: .get,
                                                    headers: [.authorization: "Bearer \(Self.token)"]) { response in
                        #expect(response.status == .ok)
                        let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                        let list = try #require(json["subscribers"] as? [[String: Any]])
                        return (try list.map { try #require($0["subscriber"] as? String) }, try #require(json["next"] as? String))
                    }
                }
            }
            let first = try await page(after: "")
            #expect(first.ids == ["s1", "s2"])
            #expect(await waitUntil(timeout: .seconds(30)) { reads.pages.load(ordering: .relaxed) == 2 }, "page 2 read ahead")
            try await store.unsubscribe(Self.account, ["s3"], at: 200)
            let second = try await page(after: first.next)
            guard young else {
                #expect(second.ids == ["s4", "s5"], "read at its request")
                #expect(second.next.isEmpty)
                return
            }
            #expect(second.ids == ["s3", "s4"], "the page read ahead, as of its read")
            #expect(await waitUntil(timeout: .seconds(30)) { reads.pages.load(ordering: .relaxed) == 3 }, "page 3 read ahead")
            let third = try await page(after: second.next)
            #expect(third.ids == ["s5"])
            #expect(third.next.isEmpty)
            #expect(reads.pages.load(ordering: .relaxed) == 3, "page 3 came from the read-ahead, and nothing follows it")
        }
    }
}

/// The store's reads, counting the pages read.
final class CountingReads: SubscriberReads {
    let base: any SubscriberReads
    let pages = Atomic<Int>(0)

    init(_ base: any SubscriberReads) { self.base = base }

    func subscriberPage(account: String, after: String?, limit: Int, row: (SubscriberColumns) -> Void) async throws -> MirrorPageEnd? {
        defer { pages.add(1, ordering: .relaxed) }
        return try await base.subscriberPage(account: account, after: after, limit: limit, row: row)
    }

    func subscriberCount(account: String) async throws -> Int { try await base.subscriberCount(account: account) }

    func subscription(account: String, subscriber: String) async throws -> SubscriptionLookup {
        try await base.subscription(account: account, subscriber: subscriber)
    }

    func subscriptions(of subscriber: String) async throws -> SubscriptionList { try await base.subscriptions(of: subscriber) }
}
