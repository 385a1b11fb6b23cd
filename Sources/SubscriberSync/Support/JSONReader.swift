/// A JSON field that may be absent, present with the expected type, or present with another type.
enum Field<Value: Sendable>: Sendable {
    case absent
    case present(Value)
    case wrongType
}

/// A cursor over a JSON text (RFC 8259) that validates every byte it passes and reads only the
/// fields its caller asks for. Request bodies on hot paths (callbacks, the read API) are read
/// with it rather than `JSONDecoder`, which was the largest single cost of those paths. Nesting
/// is bounded and nothing recurses, so no input can exhaust the stack.
struct JSONReader {
    struct Malformed: Error {}

    static let maxDepth = 256

    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Reads a whole JSON text, which must be one object, handing each member's key to `member`
    /// with the reader at its value, which `member` must consume (or skip).
    static func object(_ bytes: UnsafeRawBufferPointer, _ member: (inout JSONReader, String) throws(Malformed) -> Void) throws(Malformed) {
        var reader = JSONReader(bytes)
        reader.skipWhitespace()
        try reader.expect(UInt8(ascii: "{"))
        try reader.members(member)
        reader.skipWhitespace()
        guard reader.atEnd else { throw Malformed() }
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

    mutating func expect(_ byte: UInt8) throws(Malformed) {
        guard peek() == byte else { throw Malformed() }
        index += 1
    }

    /// Calls `member` for each key of the object whose `{` was just consumed, with the reader
    /// positioned at the value, which `member` must consume.
    mutating func members(_ member: (inout JSONReader, String) throws(Malformed) -> Void) throws(Malformed) {
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
            default: throw Malformed()
            }
        }
    }

    /// A string value, or `.wrongType` after skipping any other value.
    mutating func stringField() throws(Malformed) -> Field<String> {
        guard peek() == UInt8(ascii: "\"") else {
            try skipValue()
            return .wrongType
        }
        return .present(try string())
    }

    /// An integer that fits in Int64; fractions, exponents and anything else are `.wrongType`.
    mutating func int64Field() throws(Malformed) -> Field<Int64> {
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

    /// A string token, unescaped; invalid UTF-8, raw control characters and bad escapes are malformed.
    mutating func string() throws(Malformed) -> String {
        try expect(UInt8(ascii: "\""))
        let start = index
        var simple = true
        while true {
            guard let byte = peek() else { throw Malformed() }
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw Malformed() }
            if byte == UInt8(ascii: "\\") {
                simple = false
                index += 2
            } else {
                index += 1
            }
        }
        guard index < bytes.count else { throw Malformed() }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
        index += 1
        if simple {
            guard let value = String(validating: raw, as: UTF8.self) else { throw Malformed() }
            return value
        }
        return try Self.unescape(raw)
    }

    private static func unescape(_ raw: UnsafeRawBufferPointer) throws(Malformed) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(raw.count)
        var position = 0
        func hex4(_ at: Int) throws(Malformed) -> UInt32 {
            guard at + 4 <= raw.count else { throw Malformed() }
            var value: UInt32 = 0
            for byte in raw[at..<(at + 4)] {
                let digit: UInt8
                switch byte {
                case 0x30...0x39: digit = byte - 0x30
                case 0x41...0x46: digit = byte - 0x41 + 10
                case 0x61...0x66: digit = byte - 0x61 + 10
                default: throw Malformed()
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
            guard position + 1 < raw.count else { throw Malformed() }
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
                        throw Malformed()
                    }
                    let low = try hex4(position + 2)
                    guard (0xDC00..<0xE000).contains(low) else { throw Malformed() }
                    position += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw Malformed() }
                UTF8.encode(unicode) { output.append($0) }
            default:
                throw Malformed()
            }
        }
        guard let value = String(validating: output, as: UTF8.self) else { throw Malformed() }
        return value
    }

    /// Skips one value of any type, checking its syntax. Containers are tracked on an explicit
    /// stack rather than by recursion.
    mutating func skipValue() throws(Malformed) {
        var open: [UInt8] = []
        while true {
            skipWhitespace()
            guard let byte = peek() else { throw Malformed() }
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard open.count < Self.maxDepth else { throw Malformed() }
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
    private mutating func closeValue(_ open: inout [UInt8]) throws(Malformed) -> Bool {
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
                throw Malformed()
            }
        }
        return true
    }

    private mutating func objectKey() throws(Malformed) {
        skipWhitespace()
        _ = try string()
        skipWhitespace()
        try expect(UInt8(ascii: ":"))
    }

    private mutating func literal(_ word: StaticString) throws(Malformed) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw Malformed() }
        let expected = UnsafeRawBufferPointer(start: word.utf8Start, count: count)
        guard bytes[index..<(index + count)].elementsEqual(expected) else { throw Malformed() }
        index += count
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func skipNumber() throws(Malformed) {
        func digits(_ reader: inout JSONReader) -> Int {
            let start = reader.index
            while let byte = reader.peek(), byte >= 0x30, byte <= 0x39 { reader.index += 1 }
            return reader.index - start
        }
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), first >= 0x30, first <= 0x39 else { throw Malformed() }
        if first == 0x30 {
            index += 1
        } else {
            _ = digits(&self)
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw Malformed() }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw Malformed() }
        }
    }
}
