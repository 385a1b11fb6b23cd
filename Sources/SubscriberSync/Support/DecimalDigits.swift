/// The decimal text of an `Int64` without a `String` in between: COPY rows during a first sync
/// and read API pages write several numbers per row, and `String(value)` was visible there.
enum DecimalDigits {
    static func withText<Result>(_ value: Int64, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: the 19 digits and sign of any Int64
        return withUnsafeMutableBytes(of: &digits) { scratch in
            var magnitude = value.magnitude
            var start = scratch.count
            repeat {
                start -= 1
                scratch[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                start -= 1
                scratch[start] = UInt8(ascii: "-")
            }
            return body(UnsafeRawBufferPointer(rebasing: scratch[start...]))
        }
    }
}
