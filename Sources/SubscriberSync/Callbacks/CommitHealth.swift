import Synchronization

/// Whether callbacks' commits are failing, for `/readyz`: a replica that refuses every callback
/// must leave the load balancer's rotation even though its process answers and a probe might pass.
public final class CommitHealth: Sendable {
    /// Commits are failing when the latest one failed, this recently.
    static let failureMemoryMilliseconds: Int64 = 5_000

    private let clock: any WallClock
    /// When the latest failure happened; reset by the next success.
    private let lastFailure = Mutex<Int64?>(nil)
    /// Whether the latest commit failed. Successes are the hot path: while it is false, one load
    /// and no lock.
    private let latestFailed = Atomic<Bool>(false)

    public init(clock: any WallClock = SystemWallClock()) {
        self.clock = clock
    }

    public func succeeded() {
        guard latestFailed.load(ordering: .relaxed) else { return }
        lastFailure.withLock { failure in
            failure = nil
            latestFailed.store(false, ordering: .relaxed)
        }
    }

    public func failed() {
        let now = clock.nowMilliseconds()
        lastFailure.withLock { failure in
            failure = now
            latestFailed.store(true, ordering: .relaxed)
        }
    }

    /// True from a failed commit until a commit succeeds, or until no commit has failed for
    /// `failureMemoryMilliseconds` (an idle replica is then judged by its probe alone).
    public var isFailing: Bool {
        guard latestFailed.load(ordering: .relaxed) else { return false }
        let now = clock.nowMilliseconds()
        return lastFailure.withLock { failure in failure.map { now - $0 < Self.failureMemoryMilliseconds } ?? false }
    }
}
