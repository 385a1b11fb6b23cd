/// A callback body, validated for the command it carries.
public enum CallbackCommand: Sendable, Equatable {
    case subscribersAdded(SubscriberCallback)
    case subscribersDeleted(SubscriberCallback)
    /// `CallbackBeforeAddSubscriber`: answered "allow" at once, nothing is stored.
    case beforeAddSubscriber
    case accountDestroyed(account: String, eventTime: Int64)
    case accountCreated(account: String, eventTime: Int64)
    /// Any command this service does not act on; answered OK and counted.
    case other(name: String)

    public static let afterAddSubscriber = "OfficialAccount.CallbackAfterAddSubscriber"
    public static let afterDeleteSubscriber = "OfficialAccount.CallbackAfterDeleteSubscriber"
    public static let beforeAddSubscriberName = "OfficialAccount.CallbackBeforeAddSubscriber"
    public static let afterAccountDestroyed = "OfficialAccount.CallbackAfterOfficialAccountDestroyed"
    public static let afterAccountCreated = "OfficialAccount.CallbackAfterCreateOfficialAccount"

    /// The commands whose bodies subscriber-sync reads; any other is passed on unparsed.
    public static let interpreted: Set<String> = [
        afterAddSubscriber, afterDeleteSubscriber, beforeAddSubscriberName, afterAccountDestroyed, afterAccountCreated,
    ]

    public var name: String {
        switch self {
        case .subscribersAdded: Self.afterAddSubscriber
        case .subscribersDeleted: Self.afterDeleteSubscriber
        case .beforeAddSubscriber: Self.beforeAddSubscriberName
        case .accountDestroyed: Self.afterAccountDestroyed
        case .accountCreated: Self.afterAccountCreated
        case .other(let name): name
        }
    }
}

extension CallbackCommand {
    /// What the callback tells the store, or nil for a command that changes nothing.
    public var storeChange: StoreChange? {
        switch self {
        case .subscribersAdded(let callback):
            .subscribers(SubscriberFacts(.subscribed, account: callback.account, subscribers: callback.subscribers,
                                         version: callback.eventTime, origin: .webhook, operatorAccount: callback.operatorAccount))
        case .subscribersDeleted(let callback):
            .subscribers(SubscriberFacts(.unsubscribed, account: callback.account, subscribers: callback.subscribers,
                                         version: callback.eventTime, origin: .webhook, operatorAccount: callback.operatorAccount))
        case .accountDestroyed(let account, let eventTime):
            .accountDestroyed(account: account, at: eventTime)
        case .accountCreated(let account, let eventTime):
            .accountCreated(account: account, at: eventTime)
        case .beforeAddSubscriber, .other:
            nil
        }
    }
}

/// `CallbackAfterAddSubscriber` / `CallbackAfterDeleteSubscriber` after validation.
public struct SubscriberCallback: Sendable, Equatable {
    public var account: String
    public var operatorAccount: String?
    public var subscribers: [String]
    /// Milliseconds, Tencent's `EventTime`.
    public var eventTime: Int64

    public init(account: String, operatorAccount: String?, subscribers: [String], eventTime: Int64) {
        self.account = account
        self.operatorAccount = operatorAccount
        self.subscribers = subscribers
        self.eventTime = eventTime
    }
}
