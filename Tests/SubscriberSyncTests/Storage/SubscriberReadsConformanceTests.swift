import Foundation
import Testing
@testable import SubscriberSync

/// The read API's queries (`SubscriberReads`) on every engine.
@Suite("Subscriber reads conformance") struct SubscriberReadsConformanceTests {
    let account = "@TOA#_reads"

    /// Numbers every stored event, as the emitter does (PostgreSQL numbers at emission), and
    /// returns the newest sequence. `events(in:)` waits for transactions of other tests on the
    /// same server that would hold the numbering back.
    func numberAll(_ store: TestStore) async throws -> Int64 {
        try await store.storage.events(in: 1...Int64.max, limit: 1_000_000).last?.sequence ?? 0
    }

    @Test(arguments: StorageEngine.allCases)
    func pagesFollowTheKeyAndSkipTombstones(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        #expect(try await store.storage.subscriberPage(account: account, after: nil, limit: 10) == nil, "an account never heard of")
        try await store.subscribe(account, ["e", "a", "d", "b", "c"], at: 100)
        try await store.unsubscribe(account, ["c"], at: 200)
        try await store.subscribe("@TOA#_other", ["a", "z"], at: 100)
        let newest = try await numberAll(store)

        let first = try #require(try await store.storage.subscriberPage(account: account, after: nil, limit: 2))
        #expect(first.records.map(\.subscriber) == ["a", "b"] && first.hasMore && first.sequence == newest)
        let second = try #require(try await store.storage.subscriberPage(account: account, after: "b", limit: 2))
        #expect(second.records.map(\.subscriber) == ["d", "e"] && !second.hasMore, "c is a tombstone")
        #expect(second.records.allSatisfy { $0.account == account && $0.origin == "webhook" && $0.since == 100 })
        let past = try #require(try await store.storage.subscriberPage(account: account, after: "e", limit: 2))
        #expect(past.records.isEmpty && !past.hasMore)
        let exact = try #require(try await store.storage.subscriberPage(account: account, after: nil, limit: 4))
        #expect(exact.records.count == 4 && !exact.hasMore, "a page that ends at the last subscriber says so")
        #expect(try await store.storage.subscriberCount(account: account) == 4)
        #expect(try await store.storage.subscriberCount(account: "@TOA#_nobody") == 0)
    }

    @Test(arguments: StorageEngine.allCases)
    func aSubscriberWhoStaysIsOnExactlyOnePageWhateverChangesBetweenPages(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        let initial = (0..<20).map { String(format: "s%02d", $0) }
        try await store.subscribe(account, initial, at: 100)
        var seen: [String] = []
        var after: String?
        var version: Int64 = 200
        repeat {
            let page = try #require(try await store.storage.subscriberPage(account: account, after: after, limit: 3))
            seen += page.records.map(\.subscriber)
            after = page.hasMore ? page.records.last?.subscriber : nil
            // Between pages: one joins ahead and behind, one leaves ahead (never one of the stayers, s00-s09).
            version += 1
            try await store.subscribe(account, ["s\(version)", "a\(version)"], at: version)
            try await store.unsubscribe(account, [String(format: "s%02d", 10 + Int(version - 201))], at: version)
        } while after != nil
        let stayers = Array(initial.prefix(10))
        #expect(stayers.allSatisfy { id in seen.filter { $0 == id }.count == 1 }, "\(seen)")
        #expect(seen == seen.sorted() && Set(seen).count == seen.count)
    }

    @Test(arguments: StorageEngine.allCases)
    func lookupsNameTheAccountStateAndTheKnownFields(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe(account, ["a"], at: 100)
        try await store.listingPass(account, startedAt: 150, listed: [
            ("a", SubscriberFields(subscribeTime: 1_700_000_000, msgFlag: "AcceptNotNotify", customString: "x", lastSendMsgTime: 7)),
            ("b", .unknown),
        ], requestedAt: 160)
        let newest = try await numberAll(store)

        let a = try await store.storage.subscription(account: account, subscriber: "a")
        #expect(a.accountHeld && a.sequence == newest)
        #expect(a.record?.fields == SubscriberFields(subscribeTime: 1_700_000_000, msgFlag: "AcceptNotNotify", customString: "x", lastSendMsgTime: 7))
        let missing = try await store.storage.subscription(account: account, subscriber: "nobody")
        #expect(missing.accountHeld && missing.record == nil && missing.sequence == newest)
        let unknown = try await store.storage.subscription(account: "@TOA#_nobody", subscriber: "a")
        #expect(!unknown.accountHeld && unknown.record == nil)

        try await store.subscribe("@TOA#_b", ["a"], at: 100)
        try await store.subscribe("@TOA#_c", ["a"], at: 100)
        try await store.unsubscribe("@TOA#_c", ["a"], at: 200)
        let list = try await store.storage.subscriptions(of: "a")
        #expect(list.records.map(\.account) == ["@TOA#_b", account], "ordered by account, the tombstone left out")
        #expect(list.records.last?.fields.msgFlag == "AcceptNotNotify")
        #expect(try await store.storage.subscriptions(of: "nobody").records.isEmpty)
        let renumbered = try await numberAll(store)
        #expect(try await store.storage.subscriptions(of: "a").sequence == renumbered && renumbered > newest)
    }

    /// Many lookups at once (PostgreSQL answers those that arrive together in one statement):
    /// each gets its own pair's answer, whatever else is asked beside it.
    @Test(arguments: StorageEngine.allCases)
    func concurrentLookupsEachGetTheirOwnAnswer(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe(account, ["a", "b", "c"], at: 100)
        try await store.unsubscribe(account, ["b"], at: 200)
        try await store.subscribe("@TOA#_gone", ["a"], at: 100)
        try await store.storage.apply(.accountDestroyed(account: "@TOA#_gone", at: 500))
        let expected: [String: (held: Bool, subscribed: Bool)] = [
            "\(account) a": (true, true), "\(account) b": (true, false), "\(account) c": (true, true), "\(account) z": (true, false),
            "@TOA#_gone a": (false, false), "@TOA#_nobody a": (false, false),
        ]
        let newest = try await numberAll(store)
        let pairs = (0..<400).map { index in Array(expected.keys.sorted())[index % expected.count] }
        let answers = try await withThrowingTaskGroup(of: (String, SubscriptionLookup).self) { group in
            for pair in pairs {
                group.addTask {
                    let parts = pair.split(separator: " ").map(String.init)
                    return (pair, try await store.storage.subscription(account: parts[0], subscriber: parts[1]))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.count == pairs.count)
        for (pair, answer) in answers {
            let want = try #require(expected[pair])
            #expect(answer.accountHeld == want.held && (answer.record != nil) == want.subscribed, "\(pair)")
            if answer.accountHeld { #expect(answer.sequence == newest, "\(pair)") }
            if let record = answer.record {
                #expect("\(record.account) \(record.subscriber)" == pair)
            }
        }
    }

    @Test(arguments: StorageEngine.allCases)
    func aDestroyedAccountIsNotHeldUntilItIsCreatedAgain(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe(account, ["a"], at: 100)
        try await store.storage.apply(.accountDestroyed(account: account, at: 500))
        #expect(try await store.storage.subscriberPage(account: account, after: nil, limit: 10) == nil)
        #expect(!(try await store.storage.subscription(account: account, subscriber: "a").accountHeld))
        try await store.storage.apply(.accountCreated(account: account, at: 600))
        try await store.subscribe(account, ["b"], at: 700)
        let page = try #require(try await store.storage.subscriberPage(account: account, after: nil, limit: 10))
        #expect(page.records.map(\.subscriber) == ["b"])
    }

    /// The columns a page hands over are the stored bytes exactly (the read API escapes them
    /// itself), NULL stays nil, and a page names its last subscriber only when more follow.
    @Test(arguments: StorageEngine.allCases)
    func pageColumnsAreTheStoredBytes(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        let listed = [
            ("u0", SubscriberFields(subscribeTime: Int64.min, msgFlag: "\\N", customString: "tab\there\n\"quoted\"\\", lastSendMsgTime: Int64.max)),
            ("u1", SubscriberFields(subscribeTime: nil, msgFlag: nil, customString: "", lastSendMsgTime: nil)),
            ("u2 ü", SubscriberFields(subscribeTime: 9, msgFlag: "ok", customString: "订阅者 🎉", lastSendMsgTime: 0)),
        ]
        #expect(try await store.listingPass(account, startedAt: 1_000, listed: listed, requestedAt: 1_001).added == listed.count)
        try await store.subscribe(account, ["u3"], at: 2_000)

        struct Seen: Equatable {
            var subscriber: String, fields: SubscriberFields, since: Int64?, origin: String
        }
        func text(_ bytes: UnsafeRawBufferPointer) -> String { String(decoding: bytes, as: UTF8.self) }
        var seen: [Seen] = []
        let end = try #require(try await store.storage.subscriberPage(account: account, after: nil, limit: 3) { row in
            seen.append(Seen(subscriber: text(row.subscriber),
                             fields: SubscriberFields(subscribeTime: row.subscribeTime, msgFlag: row.msgFlag.map(text),
                                                      customString: row.customString.map(text), lastSendMsgTime: row.lastSendMsgTime),
                             since: row.since, origin: text(row.origin)))
        })
        #expect(seen.map(\.subscriber) == ["u0", "u1", "u2 ü"])
        #expect(seen.map(\.fields) == listed.map(\.1))
        #expect(seen.allSatisfy { $0.since == 1_001 && $0.origin == "reconcile" }, "\(seen)")
        #expect(end.hasMore && end.last == "u2 ü")

        var rest: [String] = []
        let last = try #require(try await store.storage.subscriberPage(account: account, after: end.last, limit: 3) { rest.append(text($0.subscriber)) })
        #expect(rest == ["u3"] && !last.hasMore && last.last == nil, "the last page names no cursor")
        var none = 0
        #expect(try await store.storage.subscriberPage(account: "@TOA#_nobody", after: nil, limit: 3) { _ in none += 1 } == nil && none == 0)
    }
}
