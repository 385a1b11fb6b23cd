/// A state change about to be recorded in the outbox, before it has a sequence number.
public struct ChangeEvent: Sendable {
    public var type: EventType
    public var account: String
    public var subject: String
    /// When it happened (ms): `EventTime` for callbacks, the page request time for a reconcile.
    public var time: Int64
    /// The `data` object, already serialized.
    public var data: [UInt8]

    public init(type: EventType, account: String, subject: String, time: Int64, data: [UInt8]) {
        self.type = type
        self.account = account
        self.subject = subject
        self.time = time
        self.data = data
    }

    /// Bytes of `data` beyond which the customString values are dropped, so that a whole line stays
    /// under 16 KiB: a CustomString may hold 3000 bytes that JSON-escape to six times as many.
    static let dataBudget = 12 * 1024

    /// A `subscriber.*` event. The fields are the subscriber's as known after the change;
    /// `previous` is given for updates.
    public static func subscriber(
        _ type: EventType, account: String, subscriber: String, time: Int64, origin: ChangeOrigin,
        operatorAccount: String?, fields: SubscriberFields, previous: SubscriberFields? = nil
    ) -> ChangeEvent {
        let data = subscriberData(account: account, subscriber: subscriber, origin: origin, operatorAccount: operatorAccount,
                                  fields: fields, previous: previous)
        return ChangeEvent(type: type, account: account, subject: subscriber, time: time, data: data)
    }

    /// The `data` of a `subscriber.*` event. It does not depend on the event's type or time, so a
    /// callback's events can be rendered before they reach the writer.
    static func subscriberData(account: String, subscriber: String, origin: ChangeOrigin, operatorAccount: String?,
                               fields: SubscriberFields, previous: SubscriberFields? = nil) -> [UInt8] {
        func render(includeCustomString: Bool) -> [UInt8] {
            var data = JSONObjectWriter()
            data.string("officialAccount", account)
            data.string("subscriber", subscriber)
            data.string("origin", origin.rawValue)
            if let operatorAccount { data.string("operator", operatorAccount) }
            fields.write(into: &data, includeCustomString: includeCustomString)
            if let previous {
                data.object("previous") { previous.write(into: &$0, includeCustomString: includeCustomString) }
            }
            if !includeCustomString { data.bool("customStringOmitted", true) }
            return data.finished()
        }
        let data = render(includeCustomString: true)
        return data.count > dataBudget ? render(includeCustomString: false) : data
    }
}
