/// A current subscription, as `export` prints it.
public struct SubscriberRecord: Sendable, Equatable {
    public var account: String
    public var subscriber: String
    public var fields: SubscriberFields
    /// The millisecond version at which the current subscription began.
    public var since: Int64?
    public var origin: String

    public init(account: String, subscriber: String, fields: SubscriberFields, since: Int64?, origin: String) {
        self.account = account
        self.subscriber = subscriber
        self.fields = fields
        self.since = since
        self.origin = origin
    }

    /// One line of `export`: a JSON object and a newline; unknown fields are `null`.
    public func exportLine() -> [UInt8] {
        var line = JSONObjectWriter()
        line.string("officialAccount", account)
        line.string("subscriber", subscriber)
        line.int("subscribeTime", orNull: fields.subscribeTime)
        line.string("msgFlag", orNull: fields.msgFlag)
        line.string("customString", orNull: fields.customString)
        line.int("lastSendMsgTime", orNull: fields.lastSendMsgTime)
        line.int("since", orNull: since)
        line.string("origin", origin)
        var bytes = line.finished()
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}
