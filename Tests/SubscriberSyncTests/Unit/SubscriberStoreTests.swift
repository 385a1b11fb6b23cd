import GRDB
import Testing
@testable import SubscriberSync

/// Last-writer-wins rules against a real SQLite database.
@Suite struct SubscriberStoreTests {
    let directory: TemporaryDirectory
    let database: DatabasePool
    let store = SubscriberStore(outbox: EventOutbox(sdkAppID: "1400000000"))
    let account = "@TOA#_shop"

    init() throws {
        directory = try TemporaryDirectory()
        database = try StoreDatabase.open(path: directory.file("store.sqlite"))
    }

    @discardableResult
    func add(_ subscribers: [String], at time: Int64, account: String? = nil) throws -> SubscriberStore.ApplyResult {
        try apply(.subscribersAdded(SubscriberCallback(account: account ?? self.account, operatorAccount: "op", subscribers: subscribers, eventTime: time)))
    }

    @discardableResult
    func delete(_ subscribers: [String], at time: Int64, account: String? = nil) throws -> SubscriberStore.ApplyResult {
        try apply(.subscribersDeleted(SubscriberCallback(account: account ?? self.account, operatorAccount: nil, subscribers: subscribers, eventTime: time)))
    }

    func apply(_ command: CallbackCommand) throws -> SubscriberStore.ApplyResult {
        try database.write { try store.apply(command, recordedAt: 1_800_000_000_000, in: $0) }
    }

    func subscribed(account: String? = nil) throws -> [String] {
        try database.read { try String.fetchAll($0, sql: "SELECT subscriber FROM subscribers WHERE account = ? AND subscribed = 1 ORDER BY subscriber", arguments: [account ?? self.account]) }
    }

    func events() throws -> [StoredEvent] {
        try database.read { try EventOutbox.events(after: 0, limit: 1000, in: $0) }
    }

    func eventSummary() throws -> [String] {
        try events().map { "\($0.type.replacingOccurrences(of: EventType.prefix, with: "")) \($0.subject)" }
    }

    @Test func subscribeEmitsOnceAndDuplicatesAreIgnored() throws {
        #expect(try add(["a", "b"], at: 100) == .init(changed: 2, ignored: 0))
        #expect(try add(["a", "b"], at: 100) == .init(changed: 0, ignored: 2))
        #expect(try subscribed() == ["a", "b"])
        #expect(try eventSummary() == ["subscriber.subscribed a", "subscriber.subscribed b"])
        let first = try events()[0]
        #expect(first.sequence == 1)
        #expect(first.time == 100)
        #expect(first.source == "tencent-chat://1400000000/official-accounts/%40TOA%23_shop")
        #expect(first.data == #"{"officialAccount":"@TOA#_shop","subscriber":"a","origin":"webhook","operator":"op"}"#)
    }

    @Test func lateOlderSubscribeCannotResurrectATombstone() throws {
        try add(["a"], at: 100)
        try delete(["a"], at: 300)
        #expect(try add(["a"], at: 200) == .init(changed: 0, ignored: 1))
        #expect(try subscribed().isEmpty)
        #expect(try eventSummary() == ["subscriber.subscribed a", "subscriber.unsubscribed a"])
        let version = try database.read { try Int64.fetchOne($0, sql: "SELECT version FROM subscribers WHERE subscriber = 'a'") }
        #expect(version == 300)
    }

    @Test func reorderedDeliveryEndsInTheSameState() throws {
        // Unsubscribe (t=300) delivered before the subscribe (t=100) it follows.
        try delete(["a"], at: 300)
        try add(["a"], at: 100)
        #expect(try subscribed().isEmpty)
        #expect(try events().isEmpty, "a never-seen subscriber's unsubscribe and an older subscribe emit nothing")
        // Subscribe (t=500) delivered before an older unsubscribe (t=400).
        try add(["b"], at: 500)
        try delete(["b"], at: 400)
        #expect(try subscribed() == ["b"])
        #expect(try eventSummary() == ["subscriber.subscribed b"])
    }

    @Test func equalEventTimeUnsubscribeWinsInEitherOrder() throws {
        try add(["a"], at: 100)
        try delete(["a"], at: 100)
        try delete(["b"], at: 100)
        try add(["b"], at: 100)
        #expect(try subscribed().isEmpty)
        #expect(try eventSummary() == ["subscriber.subscribed a", "subscriber.unsubscribed a"])
    }

    @Test func newerSubscribeForASubscriberOnlyMovesTheVersion() throws {
        _ = try database.write { db in
            try store.subscribe(account: account, subscriber: "a", version: 100, origin: .reconcile, operatorAccount: nil,
                                fields: SubscriberFields(subscribeTime: 1_698_821_747, msgFlag: "AcceptAndNotify", customString: "vip", lastSendMsgTime: 0),
                                recordedAt: 1, in: db)
        }
        #expect(try add(["a"], at: 200) == .init(changed: 0, ignored: 1))
        let row = try database.read { try Row.fetchOne($0, sql: "SELECT version, since, msg_flag, custom_string, origin FROM subscribers WHERE subscriber = 'a'") }
        #expect(row?["version"] == 200 as Int64)
        #expect(row?["since"] == 100 as Int64)
        #expect(row?["msg_flag"] == "AcceptAndNotify")
        #expect(row?["custom_string"] == "vip")
        #expect(row?["origin"] == "reconcile")
        #expect(try events().count == 1)
        // An older unsubscribe than the moved version is stale now.
        try delete(["a"], at: 150)
        #expect(try subscribed() == ["a"])
    }

    @Test func newSubscriptionStartsWithUnknownFields() throws {
        _ = try database.write { db in
            try store.subscribe(account: account, subscriber: "a", version: 100, origin: .reconcile, operatorAccount: nil,
                                fields: SubscriberFields(subscribeTime: 1_698_821_747, msgFlag: "Discard", customString: "old", lastSendMsgTime: 5),
                                recordedAt: 1, in: db)
        }
        try delete(["a"], at: 200)
        try add(["a"], at: 300)
        let row = try database.read { try Row.fetchOne($0, sql: "SELECT subscribed, since, subscribe_time, msg_flag, custom_string, last_send_msg_time, origin FROM subscribers") }
        #expect(row?["subscribed"] == true)
        #expect(row?["since"] == 300 as Int64)
        #expect(row?["subscribe_time"] == nil as Int64?)
        #expect(row?["msg_flag"] == nil as String?)
        #expect(row?["custom_string"] == nil as String?)
        #expect(row?["last_send_msg_time"] == nil as Int64?)
        #expect(row?["origin"] == "webhook")
        // The unsubscribe event carried what was known of the ended subscription.
        let unsubscribed = try #require(try events().first { $0.type.hasSuffix("unsubscribed") })
        #expect(unsubscribed.data.contains(#""msgFlag":"Discard""#))
        #expect(!(try events().last!.data.contains("msgFlag")))
    }

    @Test func destroyedAccountUnsubscribesEveryoneAndKeepsATombstone() throws {
        try add(["a", "b"], at: 100)
        try add(["late"], at: 900)
        try add(["other"], at: 100, account: "@TOA#_other")
        #expect(try apply(.accountDestroyed(account: account, eventTime: 500)) == .init(changed: 2, ignored: 0))
        #expect(try subscribed() == ["late"], "a subscribe newer than the destruction stays")
        #expect(try subscribed(account: "@TOA#_other") == ["other"])
        let destroyedEvents = try events().filter { $0.data.contains(#""origin":"account_destroyed""#) }
        #expect(destroyedEvents.map(\.subject).sorted() == ["a", "b"])
        #expect(destroyedEvents.allSatisfy { $0.time == 500 && $0.type.hasSuffix("subscriber.unsubscribed") })

        // At or before the destruction nothing changes, even for subscribers never seen.
        #expect(try add(["never-seen", "a"], at: 500) == .init(changed: 0, ignored: 2))
        try delete(["late"], at: 400)
        #expect(try subscribed() == ["late"])
        #expect(try apply(.accountDestroyed(account: account, eventTime: 500)) == .init(changed: 0, ignored: 1))
        // Re-created under the same ID: newer callbacks apply as usual.
        #expect(try add(["a"], at: 600) == .init(changed: 1, ignored: 0))
        #expect(try subscribed() == ["a", "late"])
        #expect(try database.read { try SubscriberStore.destroyedAccounts(in: $0) } == [account])
    }

    @Test func accountsFirstSeenInCallbacksAreRemembered() throws {
        try delete(["x"], at: 5, account: "@TOA#_seen")
        let accounts = try database.read { try String.fetchAll($0, sql: "SELECT account FROM accounts") }
        #expect(accounts == ["@TOA#_seen"])
    }

    @Test func databaseIsDurable() throws {
        #expect(try StoreDatabase.synchronousLevel(database) == 2)
        let mode = try database.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
    }
}
