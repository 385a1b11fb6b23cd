/// Exponential backoff with jitter: attempt n waits between half and all of min(cap, base·2ⁿ⁻¹),
/// so that many clients recovering together do not retry in step.
public struct Backoff: Sendable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration, cap: Duration) {
        self.base = base
        self.cap = cap
    }

    public static let transient = Backoff(base: .milliseconds(250), cap: .seconds(8))
    public static let slowDown = Backoff(base: .seconds(1), cap: .seconds(15))

    public func delay(attempt: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        let exponent = max(0, min(attempt - 1, 30))
        let full = min(cap, base * (1 << exponent))
        return full / 2 + full / 2 * random
    }
}
