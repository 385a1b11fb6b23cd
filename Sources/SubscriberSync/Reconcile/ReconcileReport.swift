/// What one pass over one account found and did; the `data` of its `reconcile.*` events.
public struct ReconcileReport: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        /// The listing was complete and every repair was applied.
        case completed
        /// The listing was complete; adds and updates were applied, removals held by the guard.
        case held
        /// The listing was incomplete (or the pass was interrupted): nothing changed.
        case failed
    }

    public var account: String
    public var outcome: Outcome = .failed
    public var reason: String?
    public var startedAt: Int64
    public var durationMilliseconds: Int64 = 0
    /// The part of the duration spent listing (the rest is the repair).
    public var scanMilliseconds: Int64 = 0
    public var pages = 0
    public var listed = 0
    /// Tencent's `SubscriberNum` from the last page; may differ from `listed` when the account
    /// churns during the scan.
    public var subscriberNum: Int64?
    public var subscribedAtStart = 0
    public var added = 0
    public var removed = 0
    public var updated = 0
    public var held = 0
    /// Subscribers missing from this listing (whether or not they were removed yet).
    public var removalCandidates = 0

    public init(account: String, startedAt: Int64) {
        self.account = account
        self.startedAt = startedAt
    }

    func eventData() -> [UInt8] {
        var data = JSONObjectWriter()
        data.string("officialAccount", account)
        data.string("outcome", outcome.rawValue)
        if let reason { data.string("reason", reason) }
        data.int("pages", Int64(pages))
        data.int("listed", Int64(listed))
        data.int("subscriberNum", orNull: subscriberNum)
        data.int("subscribedAtStart", Int64(subscribedAtStart))
        data.int("added", Int64(added))
        data.int("removed", Int64(removed))
        data.int("updated", Int64(updated))
        data.int("held", Int64(held))
        data.int("removalCandidates", Int64(removalCandidates))
        data.string("startedAt", Timestamps.rfc3339(milliseconds: startedAt))
        data.int("durationMs", durationMilliseconds)
        data.int("scanMs", scanMilliseconds)
        return data.finished()
    }

    func event(_ type: EventType, at time: Int64) -> ChangeEvent {
        ChangeEvent(type: type, account: account, subject: account, time: time, data: eventData())
    }
}
