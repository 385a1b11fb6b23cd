/// A sliding one-second window over accepted calls: a call at `t` (ms) is refused when `limit`
/// accepted calls have times in `(t − 1000, t]`. Also tracks the most calls ever seen in such a
/// window, which is what a pacer must keep at or below the limit.
struct RateWindow: Sendable {
    static let windowMilliseconds: Int64 = 1000

    var limit: Int
    private var times: [Int64] = []
    private var head = 0
    private(set) var maxInWindow = 0

    init(limit: Int) {
        self.limit = limit
    }

    /// Records the call and returns true when it is within the limit.
    mutating func admit(at now: Int64) -> Bool {
        while head < times.count && times[head] <= now - Self.windowMilliseconds { head += 1 }
        if head > 1024 && head * 2 > times.count {
            times.removeFirst(head)
            head = 0
        }
        guard times.count - head < limit else { return false }
        times.append(now)
        maxInWindow = max(maxInWindow, times.count - head)
        return true
    }

    mutating func resetMaximum() {
        maxInWindow = 0
    }

    /// The most timestamps (ms, ascending) that fall in any window `(t − window, t]`.
    static func maxInAnyWindow(_ times: [Int64], windowMilliseconds: Int64 = windowMilliseconds) -> Int {
        var best = 0, start = 0
        for end in times.indices {
            while times[start] <= times[end] - windowMilliseconds { start += 1 }
            best = max(best, end - start + 1)
        }
        return best
    }
}

/// Faults waiting to be served, first in first out, optionally for one command only; and the
/// random transient faults of `--fault-rate`.
struct FaultQueue: Sendable {
    struct Entry: Sendable {
        var fault: TencentSimulator.Fault
        var remaining: Int
        var api: TencentSimulator.API?
    }

    var entries: [Entry] = []
    var randomRate: Double = 0
    var randomKinds: [TencentSimulator.Fault] = TencentSimulator.Fault.transient

    mutating func next(for api: TencentSimulator.API) -> TencentSimulator.Fault? {
        if let index = entries.firstIndex(where: { $0.api == nil || $0.api == api }) {
            let fault = entries[index].fault
            entries[index].remaining -= 1
            if entries[index].remaining <= 0 { entries.remove(at: index) }
            return fault
        }
        if randomRate > 0, !randomKinds.isEmpty, Double.random(in: 0..<1) < randomRate {
            return randomKinds.randomElement()
        }
        return nil
    }
}

/// SplitMix64: deterministic picks for churn (and for the tests' random inputs).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
