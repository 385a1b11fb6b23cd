/// What the read API asks of the store. Each answer comes from one snapshot and carries the
/// `sequence` it reflects: every change whose event has a sequence at or below it is in the
/// answer, and later changes may be too (a consumer reads a snapshot, then applies the events
/// after its sequence).
public protocol SubscriberReads: Sendable {
    /// Up to `limit` of the account's current subscribers whose ID sorts after `after` (keyset
    /// paging: a subscriber who stays subscribed is on exactly one page of a paging). nil when
    /// the store does not hold the account or it is destroyed.
    func subscriberPage(account: String, after: String?, limit: Int) async throws -> MirrorPage?

    /// How many subscribe to the account now.
    func subscriberCount(account: String) async throws -> Int

    /// One subscription, when it is current; `accountHeld` false when the store does not hold the
    /// account or it is destroyed.
    func subscription(account: String, subscriber: String) async throws -> SubscriptionLookup

    /// Every account `subscriber` subscribes to now, ordered by account.
    func subscriptions(of subscriber: String) async throws -> SubscriptionList
}

public struct MirrorPage: Sendable, Equatable {
    public var sequence: Int64
    public var records: [SubscriberRecord]
    /// More subscribers sort after the last one of this page.
    public var hasMore: Bool

    public init(sequence: Int64, records: [SubscriberRecord], hasMore: Bool) {
        self.sequence = sequence
        self.records = records
        self.hasMore = hasMore
    }
}

public struct SubscriptionLookup: Sendable, Equatable {
    public var sequence: Int64
    public var accountHeld: Bool
    public var record: SubscriberRecord?

    public init(sequence: Int64, accountHeld: Bool, record: SubscriberRecord?) {
        self.sequence = sequence
        self.accountHeld = accountHeld
        self.record = record
    }
}

public struct SubscriptionList: Sendable, Equatable {
    public var sequence: Int64
    public var records: [SubscriberRecord]

    public init(sequence: Int64, records: [SubscriberRecord]) {
        self.sequence = sequence
        self.records = records
    }
}
