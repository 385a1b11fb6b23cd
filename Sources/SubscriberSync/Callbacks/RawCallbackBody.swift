/// A JSON field that may be absent, present with the expected type, or present with another type.
enum Field<Value: Sendable>: Sendable {
    case absent
    case present(Value)
    case wrongType
}

/// The union of the fields the handled commands use. Each is read leniently here and judged later,
/// once the command is known, so that a field another command uses differently refuses nothing.
struct RawCallbackBody: Sendable {
    var command: Field<String> = .absent
    var account: Field<String> = .absent
    var operatorAccount: Field<String> = .absent
    var subscribers: Field<[String]> = .absent
    var eventTime: Field<Int64> = .absent

    struct Malformed: Error {}

    /// Reads a whole JSON text (RFC 8259), which must be an object. Every byte is validated, the
    /// fields above are captured (the last occurrence of a repeated key wins) and everything else
    /// is skipped.
    ///
    /// Written by hand because this runs for every callback: `JSONDecoder` through `Decodable`
    /// was the largest single cost of the request path. Nesting is bounded and nothing recurses,
    /// so no body can exhaust the stack.
    init(json bytes: UnsafeRawBufferPointer) throws(Malformed) {
        var reader = JSONReader(bytes)
        reader.skipWhitespace()
        try reader.expect(UInt8(ascii: "{"))
        try reader.members { reader, key throws(Malformed) in
            switch key {
            case "CallbackCommand": command = try reader.stringField()
            case "Official_Account": account = try reader.stringField()
            case "Operator_Account": operatorAccount = try reader.stringField()
            case "EventTime": eventTime = try reader.int64Field()
            case "SubscribeAccountList": subscribers = try reader.subscriberList()
            default: try reader.skipValue()
            }
        }
        reader.skipWhitespace()
        guard reader.atEnd else { throw Malformed() }
    }
}

/// A cursor over JSON bytes with just the operations `RawCallbackBody` needs.
private struct JSONReader {
    static let maxDepth = 256

    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var atEnd: Bool { index >= bytes.count }

    func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func expect(_ byte: UInt8) throws(RawCallbackBody.Malformed) {
        guard peek() == byte else { throw RawCallbackBody.Malformed() }
        index += 1
    }

    /// Calls `member` for each key of the object whose `{` was just consumed, with the reader
    /// positioned at the value, which `member` must consume.
    mutating func members(_ member: (inout JSONReader, String) throws(RawCallbackBody.Malformed) -> Void) throws(RawCallbackBody.Malformed) {
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            let key = try string()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            try member(&self, key)
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return
            default: throw RawCallbackBody.Malformed()
            }
        }
    }

    /// A string value, or `.wrongType` after skipping any other value.
    mutating func stringField() throws(RawCallbackBody.Malformed) -> Field<String> {
        guard peek() == UInt8(ascii: "\"") else {
            try skipValue()
            return .wrongType
        }
        return .present(try string())
    }

    /// An integer that fits in Int64; fractions, exponents and anything else are `.wrongType`.
    mutating func int64Field() throws(RawCallbackBody.Malformed) -> Field<Int64> {
        let start = index
        guard let first = peek(), first == UInt8(ascii: "-") || (first >= 0x30 && first <= 0x39) else {
            try skipValue()
            return .wrongType
        }
        try skipNumber()
        var value: Int64 = 0
        var negative = false
        var position = start
        if bytes[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        while position < index {
            let byte = bytes[position]
            guard byte >= 0x30, byte <= 0x39 else { return .wrongType }
            let digit = Int64(byte - 0x30)
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { return .wrongType }
            value = next
            position += 1
        }
        return .present(value)
    }

    /// `[{"Subscriber_Account": string, ...}, ...]`; anything else is `.wrongType`.
    mutating func subscriberList() throws(RawCallbackBody.Malformed) -> Field<[String]> {
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
                try members { reader, key throws(RawCallbackBody.Malformed) in
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
            default: throw RawCallbackBody.Malformed()
            }
        }
    }

    /// A string token, unescaped; invalid UTF-8, raw control characters and bad escapes are malformed.
    mutating func string() throws(RawCallbackBody.Malformed) -> String {
        try expect(UInt8(ascii: "\""))
        let start = index
        var simple = true
        while true {
            guard let byte = peek() else { throw RawCallbackBody.Malformed() }
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw RawCallbackBody.Malformed() }
            if byte == UInt8(ascii: "\\") {
                simple = false
                index += 2
            } else {
                index += 1
            }
        }
        guard index < bytes.count else { throw RawCallbackBody.Malformed() }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
        index += 1
        if simple {
            guard let value = String(validating: raw, as: UTF8.self) else { throw RawCallbackBody.Malformed() }
            return value
        }
        return try Self.unescape(raw)
    }

    private static func unescape(_ raw: UnsafeRawBufferPointer) throws(RawCallbackBody.Malformed) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(raw.count)
        var position = 0
        func hex4(_ at: Int) throws(RawCallbackBody.Malformed) -> UInt32 {
            guard at + 4 <= raw.count else { throw RawCallbackBody.Malformed() }
            var value: UInt32 = 0
            for byte in raw[at..<(at + 4)] {
                let digit: UInt8
                switch byte {
                case 0x30...0x39: digit = byte - 0x30
                case 0x41...0x46: digit = byte - 0x41 + 10
                case 0x61...0x66: digit = byte - 0x61 + 10
                default: throw RawCallbackBody.Malformed()
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while position < raw.count {
            let byte = raw[position]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                position += 1
                continue
            }
            guard position + 1 < raw.count else { throw RawCallbackBody.Malformed() }
            let escaped = raw[position + 1]
            position += 2
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escaped)
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(position)
                position += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one.
                    guard position + 1 < raw.count, raw[position] == UInt8(ascii: "\\"), raw[position + 1] == UInt8(ascii: "u") else {
                        throw RawCallbackBody.Malformed()
                    }
                    let low = try hex4(position + 2)
                    guard (0xDC00..<0xE000).contains(low) else { throw RawCallbackBody.Malformed() }
                    position += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw RawCallbackBody.Malformed() }
                UTF8.encode(unicode) { output.append($0) }
            default:
                throw RawCallbackBody.Malformed()
            }
        }
        guard let value = String(validating: output, as: UTF8.self) else { throw RawCallbackBody.Malformed() }
        return value
    }

    /// Skips one value of any type, checking its syntax. Containers are tracked on an explicit
    /// stack rather than by recursion.
    mutating func skipValue() throws(RawCallbackBody.Malformed) {
        var open: [UInt8] = []
        while true {
            skipWhitespace()
            guard let byte = peek() else { throw RawCallbackBody.Malformed() }
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard open.count < Self.maxDepth else { throw RawCallbackBody.Malformed() }
                index += 1
                skipWhitespace()
                let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                if peek() == close {
                    index += 1
                    if try closeValue(&open) { return }
                    continue
                }
                open.append(byte)
                if byte == UInt8(ascii: "{") { try objectKey() }
                continue
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: try skipNumber()
            }
            if try closeValue(&open) { return }
        }
    }

    /// After a value inside the open containers: consume `,` (and the next key in an object) or
    /// the closing brackets. Returns true once the outermost value is complete.
    private mutating func closeValue(_ open: inout [UInt8]) throws(RawCallbackBody.Malformed) -> Bool {
        while let container = open.last {
            skipWhitespace()
            let close = container == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            switch peek() {
            case UInt8(ascii: ","):
                index += 1
                if container == UInt8(ascii: "{") { try objectKey() }
                return false
            case close:
                index += 1
                open.removeLast()
            default:
                throw RawCallbackBody.Malformed()
            }
        }
        return true
    }

    private mutating func objectKey() throws(RawCallbackBody.Malformed) {
        skipWhitespace()
        _ = try string()
        skipWhitespace()
        try expect(UInt8(ascii: ":"))
    }

    private mutating func literal(_ word: StaticString) throws(RawCallbackBody.Malformed) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw RawCallbackBody.Malformed() }
        let expected = UnsafeRawBufferPointer(start: word.utf8Start, count: count)
        guard bytes[index..<(index + count)].elementsEqual(expected) else { throw RawCallbackBody.Malformed() }
        index += count
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func skipNumber() throws(RawCallbackBody.Malformed) {
        func digits(_ reader: inout JSONReader) -> Int {
            let start = reader.index
            while let byte = reader.peek(), byte >= 0x30, byte <= 0x39 { reader.index += 1 }
            return reader.index - start
        }
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), first >= 0x30, first <= 0x39 else { throw RawCallbackBody.Malformed() }
        if first == 0x30 {
            index += 1
        } else {
            _ = digits(&self)
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw RawCallbackBody.Malformed() }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw RawCallbackBody.Malformed() }
        }
    }
}
