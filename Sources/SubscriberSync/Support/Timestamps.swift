/// Millisecond Unix timestamps rendered the way events need them.
public enum Timestamps {
    /// RFC 3339 in UTC with milliseconds, e.g. `2022-12-09T08:26:54.123Z`.
    public static func rfc3339(milliseconds: Int64) -> String {
        var bytes: [UInt8] = []
        appendRFC3339(milliseconds: milliseconds, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `rfc3339(milliseconds:)` appended as bytes: every event line carries two of them.
    static func appendRFC3339(milliseconds: Int64, to bytes: inout [UInt8]) {
        appendStamp(milliseconds: milliseconds, separators: "--T::.Z", to: &bytes)
    }

    /// Year, month, day, hour, minute, second and millisecond, each followed by the matching byte
    /// of `separators` (a NUL byte writes nothing).
    private static func appendStamp(milliseconds: Int64, separators: StaticString, to bytes: inout [UInt8]) {
        let (seconds, millis) = milliseconds.floorDivided(by: 1000)
        let c = civil(seconds: seconds)
        let fields = [(c.year, 4), (c.month, 2), (c.day, 2), (c.hour, 2), (c.minute, 2), (c.second, 2), (Int(millis), 3)]
        let after = UnsafeBufferPointer(start: separators.utf8Start, count: separators.utf8CodeUnitCount)
        for (index, field) in fields.enumerated() {
            appendDigits(field.0, width: field.1, to: &bytes)
            if after[index] != 0 { bytes.append(after[index]) }
        }
    }

    /// Decimal digits of a non-negative `value`, zero-padded to at least `width`; a negative year
    /// (accepted input never has one) keeps its sign through `String`.
    static func appendDigits<Value: BinaryInteger>(_ value: Value, width: Int, to bytes: inout [UInt8]) {
        guard value >= 0 else {
            bytes.append(contentsOf: String(value).utf8)
            return
        }
        let rest = UInt64(value)
        var divisor: UInt64 = 1
        var count = 1
        while rest / divisor >= 10 {
            divisor *= 10
            count += 1
        }
        for _ in count..<max(count, width) { bytes.append(UInt8(ascii: "0")) }
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            divisor /= 10
        }
    }

    /// A compact UTC stamp for file names, e.g. `20221209T082654.123Z`.
    public static func fileStamp(milliseconds: Int64) -> String {
        var bytes: [UInt8] = []
        appendStamp(milliseconds: milliseconds, separators: "\0\0T\0\0.Z", to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private struct Civil { var year, month, day, hour, minute, second: Int }

    // Howard Hinnant's days-from-civil inverse: exact for the whole Int64 range we accept,
    // and independent of the process time zone.
    private static func civil(seconds: Int64) -> Civil {
        let (days, secondOfDay) = seconds.floorDivided(by: 86_400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return Civil(
            year: Int(year), month: Int(month), day: Int(day),
            hour: Int(secondOfDay / 3600), minute: Int(secondOfDay % 3600 / 60), second: Int(secondOfDay % 60)
        )
    }
}

private extension Int64 {
    func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var q = self / divisor
        var r = self % divisor
        if r < 0 { q -= 1; r += divisor }
        return (q, r)
    }
}
