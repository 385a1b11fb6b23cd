/// A keyset cursor: the last subscriber ID of a page, in URL-safe base64 without padding, so it
/// fits a JSON string and a query parameter alike. The next page starts after that ID, so a
/// subscriber who stays subscribed during a paging is on exactly one page, whoever joins or
/// leaves meanwhile.
///
/// Coded by hand: Foundation's base64 with the character swaps around it was a twentieth of a
/// listing page's time.
public enum ReadCursor {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let values: [UInt8] = {
        var values = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in alphabet.enumerated() { values[Int(byte)] = UInt8(value) }
        return values
    }()

    public static func encode(after subscriber: String) -> String {
        let input = Array(subscriber.utf8)
        var output: [UInt8] = []
        output.reserveCapacity((input.count * 4 + 2) / 3)
        var index = 0
        while index < input.count {
            let remaining = min(3, input.count - index)
            var group = UInt32(input[index]) << 16
            if remaining > 1 { group |= UInt32(input[index + 1]) << 8 }
            if remaining > 2 { group |= UInt32(input[index + 2]) }
            for shift in [18, 12, 6, 0].prefix(remaining + 1) {
                output.append(alphabet[Int(group >> UInt32(shift) & 0x3F)])
            }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The cursor of the page after one that ended with `last`; `""` when no page follows.
    static func next(last: String?, hasMore: Bool) -> String {
        guard hasMore, let last else { return "" }
        return encode(after: last)
    }

    /// The subscriber ID to continue after; nil for a cursor this service did not make.
    public static func decode(_ cursor: String) -> String? {
        let input = Array(cursor.utf8)
        guard !input.isEmpty, input.count <= 1_024, input.count % 4 != 1 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(input.count * 3 / 4)
        var group: UInt32 = 0
        var bits = 0
        for byte in input {
            let value = values[Int(byte)]
            guard value != 0xFF else { return nil }
            group = group << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: group >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero, so that each ID has exactly one cursor.
        guard group & ((1 << UInt32(bits)) - 1) == 0,
              let subscriber = String(validating: output, as: UTF8.self), TencentIdentifier.isValid(subscriber) else { return nil }
        return subscriber
    }
}
