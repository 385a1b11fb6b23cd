/// Builds one JSON object as UTF-8 bytes with keys in the order they are written.
///
/// Events and export lines are read by log shippers and by people; a stable key order and
/// byte-exact re-emission matter more than generality, so this writes JSON directly instead of
/// going through `JSONEncoder` (whose key order is unspecified on Linux).
public struct JSONObjectWriter: Sendable {
    public private(set) var bytes: [UInt8]
    private var isFirst = true

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ name: String) {
        if !isFirst { bytes.append(UInt8(ascii: ",")) }
        isFirst = false
        JSONObjectWriter.appendString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func string(_ name: String, _ value: String) {
        key(name)
        JSONObjectWriter.appendString(value, to: &bytes)
    }

    public mutating func int(_ name: String, _ value: Int64) {
        key(name)
        JSONObjectWriter.appendInteger(value, to: &bytes)
    }

    public mutating func bool(_ name: String, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func null(_ name: String) {
        key(name)
        bytes.append(contentsOf: "null".utf8)
    }

    /// Writes `value` or `null`.
    public mutating func string(_ name: String, orNull value: String?) {
        if let value { string(name, value) } else { null(name) }
    }

    public mutating func int(_ name: String, orNull value: Int64?) {
        if let value { int(name, value) } else { null(name) }
    }

    /// Embeds already-serialized JSON (an object produced by another writer).
    public mutating func raw(_ name: String, json: some Sequence<UInt8>) {
        key(name)
        bytes.append(contentsOf: json)
    }

    public mutating func object(_ name: String, _ build: (inout JSONObjectWriter) -> Void) {
        var nested = JSONObjectWriter()
        build(&nested)
        raw(name, json: nested.finished())
    }

    public func finished() -> [UInt8] {
        var result = bytes
        result.append(UInt8(ascii: "}"))
        return result
    }

    /// RFC 8259 string escaping: quotes, backslash and control characters; everything else is
    /// passed through as UTF-8.
    public static func appendString(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { appendEscaped(UnsafeRawBufferPointer($0), to: &bytes) }
        bytes.append(UInt8(ascii: "\""))
    }

    static func appendInteger(_ value: Int64, to bytes: inout [UInt8]) {
        DecimalDigits.withText(value) { bytes.append(contentsOf: $0) }
    }

    /// Bytes known at compile time (keys and punctuation), copied in one go.
    static func appendLiteral(_ text: StaticString, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// The inside of a JSON string (no quotes) holding the UTF-8 `utf8`, escaped as
    /// `appendString` does.
    static func appendEscaped(_ utf8: UnsafeRawBufferPointer, to bytes: inout [UInt8]) {
        // Almost every string (IDs, types, sources) needs no escaping: copy it in one go.
        if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: utf8)
            return
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
    }

    /// Writes a string value whose inside `write` appends: bytes that need no escaping (digits,
    /// dashes, colons) or bytes it escaped itself (`appendEscaped`).
    mutating func plain(_ name: String, _ write: (inout [UInt8]) -> Void) {
        key(name)
        bytes.append(UInt8(ascii: "\""))
        write(&bytes)
        bytes.append(UInt8(ascii: "\""))
    }
}
