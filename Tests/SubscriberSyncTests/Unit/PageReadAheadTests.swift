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

    /// Pages of `Int`, each as many bytes as its value.
    static func readAhead(maxAge: Duration = .seconds(3600), capacity: Int = 8, maxPageBytes: Int = 1 << 20) -> PageReadAhead<Int> {
        PageReadAhead<Int>(maxAge: maxAge, capacity: capacity, maxPageBytes: maxPageBytes, bytes: { $0 })
    }

    @Test func aPageIsHandedOutOnceAndOnlyForItsOwnCursorAndLimit() async {
        let readAhead = Self.readAhead()
        readAhead.start(key) { 7 }
        #expect(await readAhead.take(Key(account: "@TOA#_a", after: "s2", limit: 2)) == nil, "another cursor")
        #expect(await readAhead.take(Key(account: "@TOA#_a", after: nil, limit: 2)) == nil, "the first page")
        #expect(await readAhead.take(Key(account: "@TOA#_a", after: "s1", limit: 3)) == nil, "another limit")
        #expect(await readAhead.take(Key(account: "@TOA#_b", after: "s1", limit: 2)) == nil, "another account")
        #expect(await readAhead.take(key) == 7)
        #expect(await readAhead.take(key) == nil, "handed out once")
    }

    @Test func aRequestWaitsForTheReadInFlight() async {
        let readAhead = Self.readAhead()
        let (gate, open) = AsyncStream<Int>.makeStream()
        readAhead.start(key) { await gate.first { _ in true } }
        let taking = Task { await readAhead.take(key) }
        open.yield(9)
        #expect(await taking.value == 9)
    }

    /// A second paging reaching a cursor gets a read started after its own previous page.
    @Test func aStartReplacesThePageHeldForItsCursor() async {
        let readAhead = Self.readAhead()
        readAhead.start(key) { 1 }
        readAhead.start(key) { 2 }
        #expect(await readAhead.take(key) == 2)
        #expect(readAhead.held == 0)
    }

    @Test func aPageOlderThanMaxAgeIsNotHandedOut() async {
        let readAhead = Self.readAhead(maxAge: .zero)
        readAhead.start(key) { 7 }
        #expect(await readAhead.take(key) == nil)
    }

    @Test func aFailedOrEmptyReadIsNotHandedOut() async {
        struct Failure: Error {}
        let readAhead = Self.readAhead()
        readAhead.start(key) { throw Failure() }
        #expect(await readAhead.take(key) == nil)
        readAhead.start(key) { nil }
        #expect(await readAhead.take(key) == nil)
    }

    @Test func aPageOverTheByteLimitIsReadAgainAtItsRequest() async {
        let readAhead = Self.readAhead(maxPageBytes: 10)
        readAhead.start(key) { 11 }
        #expect(await readAhead.take(key) == nil)
        readAhead.start(key) { 10 }
        #expect(await readAhead.take(key) == 10)
    }

    @Test func theOldestPageMakesRoomWhenTheSlotsAreFull() async {
        let readAhead = Self.readAhead(capacity: 2)
        for n in 1...3 { readAhead.start(Key(account: "@TOA#_a", after: "s\(n)", limit: 2)) { n } }
        #expect(readAhead.held == 2)
        #expect(await readAhead.take(Key(account: "@TOA#_a", after: "s1", limit: 2)) == nil)
        #expect(await readAhead.take(Key(account: "@TOA#_a", after: "s2", limit: 2)) == 2)
        #expect(await readAhead.take(Key(account: "@TOA#_a", after: "s3", limit: 2)) == 3)
    }

    @Test func pagesNotAskedForInTimeAreDroppedAtTheNextStart() {
        let young = Self.readAhead()
        let old = Self.readAhead(maxAge: .zero)
        for readAhead in [young, old] {
            for n in 1...3 { readAhead.start(Key(account: "@TOA#_a", after: "s\(n)", limit: 2)) { n } }
        }
        #expect(young.held == 3)
        #expect(old.held == 1, "only the page just started")
    }

    @Test func finishWaitsForTheReadsUnderWayAndStartsNoMore() async {
        let readAhead = Self.readAhead()
        let (gate, open) = AsyncStream<Int>.makeStream()
        let done = Atomic<Bool>(false)
        readAhead.start(key) {
            let value = await gate.first { _ in true }
            done.store(true, ordering: .relaxed)
            return value
        }
        readAhead.start(key) { 2 }   // the first read, replaced, still runs to its end
        let finishing = Task { await readAhead.finish() }
        open.yield(1)
        await finishing.value
        let readEnded = done.load(ordering: .relaxed)
        #expect(readEnded, "finish returned before a read under way ended")
        readAhead.start(key) { 3 }
        #expect(readAhead.held == 0)
        #expect(await readAhead.take(key) == nil)
    }

    // MARK: Through the endpoints

    enum Endpoint: String, CaseIterable, Sendable {
        case compatible, native
    }

    static let account = "@TOA#_readahead"
    static let secretKey = "read-ahead-test-key"
    static let token = "read-ahead-test-token"

    /// The read API over `reads` in-process; `body` gets a function that asks for the page after
    /// a cursor ("" for the first) and returns its subscribers and next cursor.
    static func withClient(_ reads: CountingReads, endpoint: Endpoint, readAheadAge: Duration,
                           _ body: @Sendable (_ page: @Sendable (String) async throws -> (ids: [String], next: String)) async throws -> Void) async throws {
        let authenticator = AdminCallAuthenticator(sdkAppID: 1_400_000_000, adminIdentifier: "administrator", secretKey: secretKey)
        let api = ReadAPI(storage: reads, authenticator: authenticator, token: token, clock: SystemWallClock(), logger: Logger(label: "test"),
                          readAheadAge: readAheadAge)
        let usersig = try UserSig.make(key: secretKey, sdkAppID: 1_400_000_000, identifier: "administrator", expire: 3600,
                                       now: Int64(Date().timeIntervalSince1970))
        try await Application(router: api.router()).test(.router) { client in
            try await body { cursor in
                switch endpoint {
                case .compatible:
                    let request = try JSONSerialization.data(withJSONObject: ["Official_Account": account, "Limit": 2, "Next": cursor])
                    let uri = "\(TencentSubscriberInfoEndpoint.path)?sdkappid=1400000000&identifier=administrator&usersig=\(usersig)&random=1&contenttype=json"
                    return try await client.execute(uri: uri, method: .post, body: ByteBuffer(bytes: request)) { response in
                        let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                        try #require(json["ErrorCode"] as? Int == 0, "\(json)")
                        let list = try #require(json["SubscriberList"] as? [[String: Any]])
                        return (try list.map { try #require($0["Subscriber_Account"] as? String) }, try #require(json["Next"] as? String))
                    }
                case .native:
                    let path = "/v1/official-accounts/\(account.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)/subscribers"
                    return try await client.execute(uri: "\(path)?limit=2&after=\(cursor)", method: .get,
                                                    headers: [.authorization: "Bearer \(token)"]) { response in
                        #expect(response.status == .ok)
                        let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                        let list = try #require(json["subscribers"] as? [[String: Any]])
                        return (try list.map { try #require($0["subscriber"] as? String) }, try #require(json["next"] as? String))
                    }
                }
            }
        }
    }

    /// Page 1 (s1, s2) is answered and page 2's read ahead has run; then s3 leaves. Page 2 asked
    /// for within `readAheadAge` is the one read before (s3 still in it), and page 3 is read
    /// ahead in turn; with no age allowed, page 2 is read at its request (s3 gone).
    @Test(arguments: Endpoint.allCases, [true, false])
    func theNextPageIsReadWhileThisOneTravels(endpoint: Endpoint, young: Bool) async throws {
        let store = try await StorageEngine.sqlite.makeStore()
        try await store.subscribe(Self.account, ["s1", "s2", "s3", "s4", "s5"], at: 100)
        let reads = CountingReads(store.storage)
        try await Self.withClient(reads, endpoint: endpoint, readAheadAge: young ? .seconds(3600) : .zero) { page in
            let first = try await page("")
            #expect(first.ids == ["s1", "s2"])
            #expect(await waitUntil(timeout: .seconds(30)) { reads.pages.load(ordering: .relaxed) == 2 }, "page 2 read ahead")
            try await store.unsubscribe(Self.account, ["s3"], at: 200)
            let second = try await page(first.next)
            guard young else {
                #expect(second.ids == ["s4", "s5"], "read at its request")
                #expect(second.next.isEmpty)
                return
            }
            #expect(second.ids == ["s3", "s4"], "the page read ahead, as of its read")
            #expect(await waitUntil(timeout: .seconds(30)) { reads.pages.load(ordering: .relaxed) == 3 }, "page 3 read ahead")
            let third = try await page(second.next)
            #expect(third.ids == ["s5"])
            #expect(third.next.isEmpty)
            #expect(reads.pages.load(ordering: .relaxed) == 3, "page 3 came from the read-ahead, and nothing follows it")
        }
    }

    /// Paging A leaves page 2 read ahead; then s2a subscribes (it sorts into page 2) and paging B
    /// reads page 1. B's page 2 must be read after B's page 1, so s2a, subscribed through all of
    /// B's paging, is on it (A's earlier read ahead of page 2 does not have it).
    @Test(arguments: Endpoint.allCases)
    func aSecondPagingGetsItsOwnReadAhead(endpoint: Endpoint) async throws {
        let store = try await StorageEngine.sqlite.makeStore()
        try await store.subscribe(Self.account, ["s1", "s2", "s3", "s4"], at: 100)
        let reads = CountingReads(store.storage)
        try await Self.withClient(reads, endpoint: endpoint, readAheadAge: .seconds(3600)) { page in
            let a = try await page("")
            #expect(a.ids == ["s1", "s2"])
            #expect(await waitUntil(timeout: .seconds(30)) { reads.pages.load(ordering: .relaxed) == 2 }, "A's page 2 read ahead")
            try await store.subscribe(Self.account, ["s2a"], at: 200)
            let b = try await page("")
            #expect(await waitUntil(timeout: .seconds(30)) { reads.pages.load(ordering: .relaxed) == 4 }, "B's page 2 read ahead")
            #expect(try await page(b.next).ids == ["s2a", "s3"])
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
