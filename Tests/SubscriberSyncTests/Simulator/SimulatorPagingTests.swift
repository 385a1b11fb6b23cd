import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing
@testable import SubscriberSync
@testable import TencentSimulator

/// `get_subscriber_info` paging: completeness, order, cursors, and listings that change mid-scan.
@Suite("Simulator: paging")
struct SimulatorPagingTests {
    let clock = FakeClock(milliseconds: 1_700_000_000_000)
    typealias Code = TencentSimulator.ErrorCode

    @Test("1,000 subscribers in pages of 200: each exactly once, in order, last Next empty, SubscriberNum right")
    func fullScan() async throws {
        let simulator = SimFixture.simulator(clock: clock)
        simulator.seed(account: SimFixture.account, count: 1000)
        let expected = try #require(simulator.subscribers(of: SimFixture.account))
        try await simulator.testApplication().test(.router) { client async throws in
            let pages = try await client.scan(simulator, clock: clock)
            #expect(pages.count == 5)
            #expect(pages.map(\.subscribers.count) == [200, 200, 200, 200, 200])
            #expect(pages.allSatisfy { $0.subscriberNum == 1000 })
            #expect(pages.dropLast().allSatisfy { !($0.next ?? "").isEmpty })
            #expect(pages.last?.next == "")
            let seen = pages.flatMap(\.subscribers)
            #expect(seen == expected)
            #expect(Set(seen.map(\.account)).count == 1000)
            #expect(seen.map(\.account) == seen.map(\.account).sorted())
            #expect(seen.first == TencentSimulator.seededSubscriber(prefix: "user", index: 0))
            #expect(seen.first?.account == "user00000000")
            #expect(seen.last?.account == "user00000999")
            #expect(Set(seen.compactMap(\.msgFlag)) == ["AcceptAndNotify", "AcceptNotNotify", "Discard"])
        }
        #expect(simulator.stats.pagesServed == 5)
    }

    @Test("cursors are opaque and carry +, / and =")
    func cursorAlphabet() async throws {
        let simulator = SimFixture.simulator(clock: clock)
        simulator.seed(account: SimFixture.account, count: 1000)
        try await simulator.testApplication().test(.router) { client async throws in
            let pages = try await client.scan(simulator, clock: clock, limit: 7)
            let cursors = pages.compactMap(\.next).filter { !$0.isEmpty }
            #expect(cursors.count == 142)
            for cursor in cursors {
                #expect(cursor.contains("+") && cursor.contains("/") && cursor.contains("="), "\(cursor)")
                #expect(cursor.hasSuffix("=="), "\(cursor)")
                #expect(!cursor.contains("user0"), "the key is visible: \(cursor)")
            }
        }
    }

    @Test("the raw answer has Tencent's field names and the sample's shape")
    func answerShape() async throws {
        let simulator = SimFixture.simulator(clock: clock)
        simulator.setSubscribers(account: SimFixture.account, [
            SubscriberInfo(account: "leckie", subscribeTime: 1_698_821_800, customString: "", msgFlag: "AcceptNotNotify", lastSendMsgTime: 0),
            SubscriberInfo(account: "jared", subscribeTime: 1_698_821_747, customString: "", msgFlag: "AcceptAndNotify", lastSendMsgTime: 0),
        ])
        let sampleData = try Resources.data("rest-get-subscriber-info.response.last-page.json")
        try await simulator.testApplication().test(.router) { client async throws in
            let answer = try await client.page(simulator, clock: clock)
            #expect(answer.text.hasPrefix(#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"Next":"","SubscriberNum":2,"SubscriberList":[{"Subscriber_Account":"jared","#))
            let sample = try JSONSerialization.jsonObject(with: sampleData) as? NSDictionary
            #expect(NSDictionary(dictionary: answer.json ?? [:]) == sample)
        }
    }

    @Test("an empty account, an exact multiple of the page size, Limit left out")
    func edges() async throws {
        let simulator = SimFixture.simulator(clock: clock)
        simulator.createAccount("@TOA#_empty")
        simulator.seed(account: SimFixture.account, count: 400)
        try await simulator.testApplication().test(.router) { client async throws in
            let empty = try await client.page(simulator, clock: clock, account: "@TOA#_empty")
            #expect(empty.isOK)
            #expect(try empty.page() == SubscriberPage(next: "", subscriberNum: 0, subscribers: []))
            let pages = try await client.scan(simulator, clock: clock)
            #expect(pages.map(\.subscribers.count) == [200, 200])
            #expect(pages.last?.next == "")
            let defaulted = try await client.page(simulator, clock: clock, limit: nil)
            #expect(try defaulted.page().subscribers.count == 200)
        }
    }

    @Test("cursors it did not issue for this account are refused")
    func foreignCursors() async throws {
        let simulator = SimFixture.simulator(clock: clock)
        let other = SimFixture.simulator(clock: clock)
        for sim in [simulator, other] {
            sim.seed(account: SimFixture.account, count: 500)
            sim.seed(account: "@TOA#_other", count: 500)
        }
        let foreignCursor: String = try await other.testApplication().test(.router) { client async throws in
            try #require(try await client.page(other, clock: clock).page().next)
        }
        try await simulator.testApplication().test(.router) { client async throws in
            let own = try #require(try await client.page(simulator, clock: clock).page().next)
            let otherAccount = try #require(try await client.page(simulator, clock: clock, account: "@TOA#_other").page().next)
            var tampered = Array(own)
            tampered[10] = tampered[10] == "A" ? "B" : "A"
            let refused: [(String, String)] = [
                ("the documented sample", "TGSOTk="),
                ("another simulator's", foreignCursor),
                ("another account's", otherAccount),
                ("one character changed", String(tampered)),
                ("not base64", "+/+/ not a cursor =="),
                ("well-formed base64, made up", Data((0..<40).map { UInt8($0) }).base64EncodedString()),
            ]
            for (name, cursor) in refused {
                let answer = try await client.page(simulator, clock: clock, next: cursor)
                #expect(answer.isRefusal(Code.invalidParameter), "\(name): \(answer.text)")
            }
            // The genuine one still works after all that.
            #expect(try await client.page(simulator, clock: clock, next: own).isOK)
        }
    }

    @Test("keyset: removing subscribers between pages skips nobody who stayed; adding behind the cursor misses only the new")
    func keysetChurn() async throws {
        let simulator = SimFixture.simulator(clock: clock)
        simulator.seed(account: SimFixture.account, count: 1000)
        let before = Set(try #require(simulator.subscribers(of: SimFixture.account)).map(\.account))
        simulator.churn(account: SimFixture.account, .init(addBehind: 2, addAhead: 2, removeBehind: 3, removeAhead: 3))
        try await simulator.testApplication().test(.router) { client async throws in
            let pages = try await client.scan(simulator, clock: clock, limit: 100)
            let seen = pages.flatMap(\.subscribers).map(\.account)
            let log = simulator.churnLog
            #expect(log.count == 9 * 10)
            let removed = Set(log.filter { $0.kind == .removed }.map(\.subscriber))
            let addedAhead = Set(log.filter { $0.kind == .added && !$0.behindCursor }.map(\.subscriber))
            let addedBehind = Set(log.filter { $0.kind == .added && $0.behindCursor }.map(\.subscriber))
            #expect(Set(seen).count == seen.count, "a subscriber was listed twice")
            #expect(seen == seen.sorted())
            // Everyone who was there all along was listed.
            #expect(before.subtracting(removed).isSubset(of: Set(seen)))
            // New subscribers behind the cursor are missed, those ahead are listed.
            #expect(Set(seen).isDisjoint(with: addedBehind))
            #expect(addedAhead.subtracting(removed).isSubset(of: Set(seen)))
            #expect(pages.last?.subscriberNum == Int64(try #require(simulator.subscriberCount(of: SimFixture.account))))
        }
    }

    @Test("offset: removals behind the cursor make a scan skip subscribers who never left")
    func offsetSkips() async throws {
        let simulator = SimFixture.simulator(clock: clock, paging: .offset)
        simulator.seed(account: SimFixture.account, count: 1000)
        let before = Set(try #require(simulator.subscribers(of: SimFixture.account)).map(\.account))
        simulator.churn(account: SimFixture.account, .init(removeBehind: 5))
        try await simulator.testApplication().test(.router) { client async throws in
            let pages = try await client.scan(simulator, clock: clock, limit: 200)
            let seen = Set(pages.flatMap(\.subscribers).map(\.account))
            let removed = Set(simulator.churnLog.map(\.subscriber))
            let skipped = before.subtracting(removed).subtracting(seen)
            #expect(removed.count == 5 * 4)
            #expect(skipped.count == 5 * 4, "offset paging should skip one still-subscribed account per removal behind it")
            let current = Set(try #require(simulator.subscribers(of: SimFixture.account)).map(\.account))
            #expect(skipped.isSubset(of: current), "the skipped ones are still subscribed")
        }
    }

    @Test("a keyset cursor is refused in offset mode and vice versa")
    func modeMismatch() async throws {
        let simulator = SimFixture.simulator(clock: clock)
        simulator.seed(account: SimFixture.account, count: 500)
        try await simulator.testApplication().test(.router) { client async throws in
            let keyset = try #require(try await client.page(simulator, clock: clock).page().next)
            simulator.pagingMode = .offset
            #expect(try await client.page(simulator, clock: clock, next: keyset).isRefusal(Code.invalidParameter))
            let offset = try #require(try await client.page(simulator, clock: clock).page().next)
            #expect(try await client.page(simulator, clock: clock, next: offset).isOK)
        }
    }

    @Test("onPageServed sees every page and may change the listing")
    func pageHook() async throws {
        let simulator = SimFixture.simulator(clock: clock)
        simulator.seed(account: SimFixture.account, count: 1000)
        let seenPages = Mutex<[Int]>([])
        simulator.onPageServed = { [weak simulator] account, index in
            seenPages.withLock { $0.append(index) }
            // Subscribers that sort before everything: behind any cursor.
            simulator?.addSubscribers(account: account, [SubscriberInfo(account: "aaa-late-\(index)")])
        }
        try await simulator.testApplication().test(.router) { client async throws in
            let pages = try await client.scan(simulator, clock: clock)
            #expect(pages.flatMap(\.subscribers).count == 1000)
            #expect(pages.last?.subscriberNum == 1004)
        }
        #expect(seenPages.withLock { $0 } == [0, 1, 2, 3, 4])
        #expect(simulator.subscriberCount(of: SimFixture.account) == 1005)
    }

    @Test("10,000 subscribers over real loopback HTTP with AsyncHTTPClient")
    func liveScan() async throws {
        let simulator = SimFixture.simulator(clock: clock)
        simulator.seed(account: SimFixture.account, count: 10_000, prefix: "u")
        try await simulator.testApplication().test(.live) { client async throws in
            let pages = try await client.scan(simulator, clock: clock)
            #expect(pages.count == 50)
            let seen = pages.flatMap(\.subscribers).map(\.account)
            #expect(seen.count == 10_000)
            #expect(seen == (0..<10_000).map { TencentSimulator.seededAccount(prefix: "u", index: $0) })
        }
    }

    @Test("get_official_account_info: per-item results, at most 50, filter, optional echo")
    func officialAccountInfo() async throws {
        let simulator = SimFixture.simulator(clock: clock)
        simulator.seed(account: SimFixture.account, count: 42)
        simulator.createAccount("@TOA#_empty", name: "Empty one", owner: "107867")
        let query = SimFixture.query(usersig: try SimFixture.userSig(clock: clock))
        @Sendable func body(_ ids: [String], filter: [String]? = ["SubscriberNum", "Name"]) -> String {
            var object: [String: Any] = ["OfficialAccountIdList": ids.map { ["Official_Account": $0] }]
            if let filter { object["ResponseFilter"] = ["OfficialAccountBaseInfoFilter": filter] }
            return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        try await simulator.testApplication().test(.router) { client async throws in
            let answer = try await client.post(SimFixture.accountInfoPath, query: query, body: body([SimFixture.account, "@TOA#_nobody", "@TOA#_empty"]))
            #expect(answer.isOK, "\(answer.text)")
            let list = try JSONDecoder().decode(OfficialAccountInfoList.self, from: Data(answer.text.utf8))
            #expect(list.items == [
                OfficialAccountInfo(officialAccount: SimFixture.account, subscriberNum: 42, name: SimFixture.account),
                OfficialAccountInfo(officialAccount: "@TOA#_nobody", errorCode: Code.unknownAccount, errorInfo: "Official_Account @TOA#_nobody does not exist", subscriberNum: nil),
                OfficialAccountInfo(officialAccount: "@TOA#_empty", subscriberNum: 0, name: "Empty one"),
            ])
            let items = try #require(answer.json?["OfficialAccountInfoList"] as? [[String: Any]])
            #expect(items.map { $0["ActionStatus"] as? String } == ["OK", "FAIL", "OK"])
            #expect(items[0]["Owner_Account"] == nil, "filtered out")

            let all = try await client.post(SimFixture.accountInfoPath, query: query, body: body([SimFixture.account], filter: nil))
            let item = try #require((all.json?["OfficialAccountInfoList"] as? [[String: Any]])?.first)
            #expect(Set(item.keys) == Set(["ActionStatus", "ErrorCode", "ErrorInfo", "Official_Account"] + TencentSimulator.baseInfoFields))

            let fifty = try await client.post(SimFixture.accountInfoPath, query: query, body: body(Array(repeating: SimFixture.account, count: 50)))
            #expect(fifty.isOK)
            for refused in [body(Array(repeating: SimFixture.account, count: 51)), body([]), #"{"OfficialAccountIdList":[{"Official_Account":1}]}"#, "{}"] {
                let answer = try await client.post(SimFixture.accountInfoPath, query: query, body: refused)
                #expect(answer.isRefusal(Code.invalidParameter), "\(answer.text)")
            }
            #expect(try await client.post(SimFixture.accountInfoPath, query: query, body: "nope").isRefusal(Code.requestJSON))

            simulator.echoesOfficialAccount = false
            let bare = try await client.post(SimFixture.accountInfoPath, query: query, body: body([SimFixture.account]))
            let bareList = try JSONDecoder().decode(OfficialAccountInfoList.self, from: Data(bare.text.utf8))
            #expect(bareList.items == [OfficialAccountInfo(officialAccount: nil, subscriberNum: 42, name: SimFixture.account)])
        }
    }

    @Test("Swift API: set, add, remove, update, destroy keep the listing sorted and unique")
    func swiftAPI() async throws {
        let simulator = SimFixture.simulator(clock: clock)
        simulator.setSubscribers(account: "@TOA#_a", ["carol", "alice", "bob", "alice"].map { SubscriberInfo(account: $0) })
        #expect(simulator.subscribers(of: "@TOA#_a")?.map(\.account) == ["alice", "bob", "carol"])
        #expect(simulator.subscribers(of: "@TOA#_a")?.first == SubscriberInfo(account: "alice", subscribeTime: 1_700_000_000, customString: "", msgFlag: "AcceptAndNotify", lastSendMsgTime: 0))
        #expect(simulator.addSubscribers(account: "@TOA#_a", [SubscriberInfo(account: "bob"), SubscriberInfo(account: "dave")]) == ["dave"])
        let many = (0..<500).map { SubscriberInfo(account: "m\($0)") }
        #expect(simulator.addSubscribers(account: "@TOA#_a", many + [SubscriberInfo(account: "alice")]).count == 500)
        let accounts = try #require(simulator.subscribers(of: "@TOA#_a")).map(\.account)
        #expect(accounts == accounts.sorted() && Set(accounts).count == 504)
        #expect(simulator.removeSubscribers(account: "@TOA#_a", ["bob", "nobody"]) == ["bob"])
        #expect(simulator.removeSubscribers(account: "@TOA#_a", many.map(\.account)).count == 500)
        #expect(simulator.updateSubscriber(account: "@TOA#_a", subscriber: "carol") { $0.msgFlag = "Discard"; $0.account = "hijack" })
        #expect(simulator.subscribers(of: "@TOA#_a")?.map(\.account) == ["alice", "carol", "dave"])
        #expect(simulator.subscribers(of: "@TOA#_a")?[1].msgFlag == "Discard")
        #expect(!simulator.updateSubscriber(account: "@TOA#_a", SubscriberInfo(account: "zed")))
        #expect(simulator.accounts == ["@TOA#_a"])
        #expect(simulator.destroyAccount("@TOA#_a"))
        #expect(simulator.subscribers(of: "@TOA#_a") == nil)
        try await simulator.testApplication().test(.router) { client async throws in
            #expect(try await client.page(simulator, clock: clock, account: "@TOA#_a").isRefusal(Code.unknownAccount))
        }
    }
}
