/// Whole nanoseconds and milliseconds of a `Duration`, for metrics and log fields. A `TimeAmount`
/// for NIO is `TimeAmount(_:)`, NIO's own.
extension Duration {
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
