/// One reconcile pass over one account, as the store tracks it.
public struct ListingPass: Sendable, Equatable {
    public var id: Int64
    public var account: String
    /// When the pass started (ms): removals take it as their version, and only records older than
    /// it can be removal candidates.
    public var startedAt: Int64
    /// Subscribed in the store when the pass started.
    public var subscribedAtStart: Int
    /// The reconciler's lease the pass runs under: every write of the pass checks, in its own
    /// transaction, that it is still this one (else `ReconcileLeaseLost`). nil: nothing to check
    /// (a caller that runs passes without the lease, as tests do).
    public var lease: ReconcileLeaseGrant?

    public init(id: Int64, account: String, startedAt: Int64, subscribedAtStart: Int, lease: ReconcileLeaseGrant? = nil) {
        self.id = id
        self.account = account
        self.startedAt = startedAt
        self.subscribedAtStart = subscribedAtStart
        self.lease = lease
    }
}

/// One entry of a listing page, with the `subscriber.subscribed` event it would become, rendered
/// while the scan waits on Tencent's pace.
public struct ListedSubscriber: Sendable, Equatable {
    public var subscriber: String
    /// When the page was requested (ms): the version of an add, and what a local change must be
    /// newer than to win over this entry.
    public var requestedAt: Int64
    public var fields: SubscriberFields
    public var eventID: String
    public var eventData: [UInt8]

    public init(subscriber: String, requestedAt: Int64, fields: SubscriberFields, eventID: String, eventData: [UInt8]) {
        self.subscriber = subscriber
        self.requestedAt = requestedAt
        self.fields = fields
        self.eventID = eventID
        self.eventData = eventData
    }
}

/// Subscribers missing from a complete listing.
public struct RemovalCandidates: Sendable, Equatable {
    /// Missing from this listing.
    public var count: Int
    /// Missing from this and the previous complete listing, with no change in between.
    public var removable: [String]

    public init(count: Int, removable: [String]) {
        self.count = count
        self.removable = removable
    }
}
