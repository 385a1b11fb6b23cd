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

extension SubscriberRecord {
    /// The record as columns, for an engine whose driver hands over values rather than buffers.
    public func withColumns<Result>(_ body: (SubscriberColumns) throws -> Result) rethrows -> Result {
        try Self.bytes(subscriber) { subscriber in
            try Self.bytes(origin) { origin in
                try Self.optionalBytes(fields.msgFlag) { msgFlag in
                    try Self.optionalBytes(fields.customString) { customString in
                        try body(SubscriberColumns(
                            subscriber: subscriber, subscribeTime: fields.subscribeTime, msgFlag: msgFlag, customString: customString,
                            lastSendMsgTime: fields.lastSendMsgTime, since: since, origin: origin))
                    }
                }
            }
        }
    }

    private static func bytes<Result>(_ text: String, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        var text = text
        return try text.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }

    private static func optionalBytes<Result>(_ text: String?, _ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        guard let text else { return try body(nil) }
        return try bytes(text) { try body($0) }
    }
}
