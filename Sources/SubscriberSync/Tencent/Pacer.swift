import Synchronization

/// Never more than `limit` calls in any one-second window, bursts included: Tencent counts calls
/// per second, so an average rate is not enough. Grants are recorded when given; a small margin
/// on the window absorbs the jitter between a grant and the request reaching Tencent.
///
/// When Tencent says "too fast" (`slowDown()`), the pace halves and then recovers by a tenth of
/// the limit every few seconds without another complaint.
public final class Pacer: Sendable {
    public let limit: Int
    private let window: Duration
    private let recoveryInterval: Duration
    private struct State {
        var grants: [ContinuousClock.Instant] = []
        var head = 0
        var effectiveLimit: Int
        var lastAdjustment: ContinuousClock.Instant
    }
    private let state: Mutex<State>

    public init(limit: Int, windowMargin: Duration = .milliseconds(20), recoveryInterval: Duration = .seconds(5)) {
        precondition(limit > 0)
        self.limit = limit
        self.window = .seconds(1) + windowMargin
        self.recoveryInterval = recoveryInterval
        state = Mutex(State(effectiveLimit: limit, lastAdjustment: .now))
    }

    /// The current pace in calls per window (lower than `limit` after a slow-down).
    public var currentLimit: Int { state.withLock { $0.effectiveLimit } }

    /// Waits for a slot. Throws only when the task is cancelled.
    public func acquire() async throws {
        while true {
            let wait: Duration? = state.withLock { state in
                let now = ContinuousClock.now
                if state.effectiveLimit < limit, now - state.lastAdjustment >= recoveryInterval {
                    state.effectiveLimit = min(limit, state.effectiveLimit + max(1, limit / 10))
                    state.lastAdjustment = now
                }
                while state.head < state.grants.count, now - state.grants[state.head] >= window {
                    state.head += 1
                }
                if state.head > 4096 {
                    state.grants.removeFirst(state.head)
                    state.head = 0
                }
                let inWindow = state.grants.count - state.head
                if inWindow < state.effectiveLimit {
                    state.grants.append(now)
                    return nil
                }
                // The grant that must leave the window before another call fits.
                let blocking = state.grants[state.grants.count - state.effectiveLimit]
                return blocking + window - now
            }
            guard let wait else { return }
            try await Task.sleep(for: wait)
        }
    }

    /// Tencent answered 60007/60011/60018/60019: halve the pace.
    public func slowDown() {
        state.withLock { state in
            state.effectiveLimit = max(1, state.effectiveLimit / 2)
            state.lastAdjustment = .now
        }
    }
}
