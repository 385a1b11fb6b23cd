/// What the read API asks of the store. Each answer comes from one snapshot and carries the
/// `sequence` it reflects: every change whose event has a sequence at or below it is in the
/// answer, and later changes may be too (a consumer reads a snapshot, then applies the events
/// after its sequence).
public protocol SubscriberReads: Sendable {
    /// Hands `row` up to `limit` of the account's current subscribers whose ID sorts after
    /// `after`, in ID order (keyset paging: a subscriber who stays subscribed is on exactly one
    /// page of a paging). nil, with no row handed over, when the store does not hold the account
    /// or it is destroyed.
    func subscriberPage(account: String, after: String?, limit: Int, row: (SubscriberColumns) -> Void) async throws -> MirrorPageEnd?

    /// How many subscribe to the account now.
    func subscriberCount(account: String) async throws -> Int

    /// One subscription, when it is current; `accountHeld` false when the store does not hold the
    /// account or it is destroyed.
    func subscription(account: String, subscriber: String) async throws -> SubscriptionLookup

    /// Every account `subscriber` subscribes to now, ordered by account.
    func subscriptions(of subscriber: String) async throws -> SubscriptionList
}

extension SubscriberReads {
    /// The page as records (the native endpoints and `export`-shaped answers).
    public func subscriberPage(account: String, after: String?, limit: Int) async throws -> MirrorPage? {
        var records: [SubscriberRecord] = []
        records.reserveCapacity(limit)
        guard let end = try await subscriberPage(account: account, after: after, limit: limit, row: { records.append($0.record(account: account)) }) else {
            return nil
        }
        return MirrorPage(sequence: end.sequence, records: records, hasMore: end.hasMore)
    }
}

/// How a page of `subscriberPage(account:after:limit:row:)` ended.
public struct MirrorPageEnd: Sendable, Equatable {
    public var sequence: Int64
    /// The ID of the last row handed over when more follow (what a cursor holds), else nil.
    public var last: String?
    /// More subscribers sort after the last one of this page.
    public var hasMore: Bool

    public init(sequence: Int64, last: String? = nil, hasMore: Bool = false) {
        self.sequence = sequence
        self.last = last
        self.hasMore = hasMore
    }
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
