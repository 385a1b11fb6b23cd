/// A fact about an account's subscribers, as a callback states it. The store takes these, never
/// a callback's wire form.
public enum StoreChange: Sendable, Equatable {
    /// These subscribers subscribed (or unsubscribed) at `version`, a millisecond time.
    case subscribers(SubscriberFacts)
    /// The account was destroyed at `at`: everyone subscribed at or before leaves, and the account
    /// keeps a tombstone that voids every fact at or before that time.
    case accountDestroyed(account: String, at: Int64)
    /// The account was created at `at` (Tencent's create callback, or an operator's revival). A
    /// creation newer than the account's destruction makes it live again; the destruction's
    /// tombstone still voids facts at or before it.
    case accountCreated(account: String, at: Int64)
}

/// The same fact about several subscribers of one account.
public struct SubscriberFacts: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case subscribed
        case unsubscribed
    }

    public var kind: Kind
    public var account: String
    public var subscribers: [String]
    public var version: Int64
    public var origin: ChangeOrigin
    public var operatorAccount: String?

    public init(_ kind: Kind, account: String, subscribers: [String], version: Int64, origin: ChangeOrigin = .webhook,
                operatorAccount: String? = nil) {
        self.kind = kind
        self.account = account
        self.subscribers = subscribers
        self.version = version
        self.origin = origin
        self.operatorAccount = operatorAccount
    }
}

/// How many subscriber-level facts changed state or were ignored as duplicate or stale.
public struct ApplyResult: Sendable, Equatable {
    public var changed: Int
    public var ignored: Int
    /// A creation made a destroyed account live again.
    public var revived: Bool

    public init(changed: Int = 0, ignored: Int = 0, revived: Bool = false) {
        self.changed = changed
        self.ignored = ignored
        self.revived = revived
    }
}
