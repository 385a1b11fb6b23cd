/// The union of the fields the handled commands use. Each is read leniently here and judged later,
/// once the command is known, so that a field another command uses differently refuses nothing.
struct RawCallbackBody: Sendable {
    var command: Field<String> = .absent
    var account: Field<String> = .absent
    var operatorAccount: Field<String> = .absent
    var subscribers: Field<[String]> = .absent
    var eventTime: Field<Int64> = .absent

    typealias Malformed = JSONReader.Malformed

    /// Reads a whole JSON text (RFC 8259), which must be an object. Every byte is validated, the
    /// fields above are captured (the last occurrence of a repeated key wins) and everything else
    /// is skipped.
    init(json bytes: UnsafeRawBufferPointer) throws(Malformed) {
        try JSONReader.object(bytes) { reader, key throws(Malformed) in
            switch key {
            case "CallbackCommand": command = try reader.stringField()
            case "Official_Account": account = try reader.stringField()
            case "Operator_Account": operatorAccount = try reader.stringField()
            case "EventTime": eventTime = try reader.int64Field()
            case "SubscribeAccountList": subscribers = try reader.subscriberList()
            default: try reader.skipValue()
            }
        }
    }
}

extension JSONReader {
    /// `[{"Subscriber_Account": string, ...}, ...]`; anything else is `.wrongType`.
    mutating func subscriberList() throws(Malformed) -> Field<[String]> {
        guard peek() == UInt8(ascii: "[") else {
            try skipValue()
            return .wrongType
        }
        index += 1
        var accounts: [String] = []
        var wellFormed = true
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return .present(accounts)
        }
        while true {
            skipWhitespace()
            if peek() == UInt8(ascii: "{") {
                index += 1
                var account: Field<String> = .absent
                try members { reader, key throws(Malformed) in
                    if key == "Subscriber_Account" { account = try reader.stringField() } else { try reader.skipValue() }
                }
                if case .present(let value) = account { accounts.append(value) } else { wellFormed = false }
            } else {
                try skipValue()
                wellFormed = false
            }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return wellFormed ? .present(accounts) : .wrongType
            default: throw Malformed()
            }
        }
    }
}
