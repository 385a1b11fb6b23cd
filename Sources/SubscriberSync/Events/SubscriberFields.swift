/// What Tencent tells about one subscription beyond its existence. Callbacks carry none of it;
/// the reconciler learns it from `get_subscriber_info`. `nil` means unknown.
public struct SubscriberFields: Sendable, Equatable {
    /// Unix seconds, as Tencent gives it.
    public var subscribeTime: Int64?
    public var msgFlag: String?
    public var customString: String?
    /// Unix seconds, as Tencent gives it.
    public var lastSendMsgTime: Int64?

    public init(subscribeTime: Int64? = nil, msgFlag: String? = nil, customString: String? = nil, lastSendMsgTime: Int64? = nil) {
        self.subscribeTime = subscribeTime
        self.msgFlag = msgFlag
        self.customString = customString
        self.lastSendMsgTime = lastSendMsgTime
    }

    public static let unknown = SubscriberFields()

    /// Writes the known fields (unknown ones are left out) into an event's `data`.
    func write(into writer: inout JSONObjectWriter, includeCustomString: Bool) {
        if let subscribeTime { writer.int("subscribeTime", subscribeTime) }
        if let msgFlag { writer.string("msgFlag", msgFlag) }
        if includeCustomString, let customString { writer.string("customString", customString) }
        if let lastSendMsgTime { writer.int("lastSendMsgTime", lastSendMsgTime) }
    }
}
