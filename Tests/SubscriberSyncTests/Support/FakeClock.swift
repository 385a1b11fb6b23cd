import Synchronization
@testable import SubscriberSync

/// A wall clock the test moves by hand.
final class FakeClock: WallClock {
    private let now: Mutex<Int64>

    init(milliseconds: Int64 = 1_700_000_000_000) {
        now = Mutex(milliseconds)
    }

    func nowMilliseconds() -> Int64 { now.withLock { $0 } }

    func advance(milliseconds: Int64) { now.withLock { $0 += milliseconds } }

    func set(milliseconds: Int64) { now.withLock { $0 = milliseconds } }
}
