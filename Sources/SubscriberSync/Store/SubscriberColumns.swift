/// One current subscription as the store holds it, each column valid only during the call that
/// receives it. The read API renders pages straight from these, as the emitter renders events
/// (`EventLine`): a `SubscriberRecord` costs five Strings per row, which were most of a listing
/// page's time.
public struct SubscriberColumns {
    public var subscriber: UnsafeRawBufferPointer
    public var subscribeTime: Int64?
    public var msgFlag: UnsafeRawBufferPointer?
    public var customString: UnsafeRawBufferPointer?
    public var lastSendMsgTime: Int64?
    public var since: Int64?
    public var origin: UnsafeRawBufferPointer

    public func record(account: String) -> SubscriberRecord {
        SubscriberRecord(
            account: account, subscriber: Self.string(subscriber),
            fields: SubscriberFields(subscribeTime: subscribeTime, msgFlag: msgFlag.map(Self.string),
                                     customString: customString.map(Self.string), lastSendMsgTime: lastSendMsgTime),
            since: since, origin: Self.string(origin))
    }

    private static func string(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
