import Synchronization

/// Whether callbacks' commits are failing, for `/readyz`: a replica that refuses every callback
/// must leave the load balancer's rotation even though its process answers and a probe might pass.
public final class CommitHealth: Sendable {
    /// Commits are failing when the latest one failed, this recently, with no success since.
    static let failureMemoryMilliseconds: Int64 = 5_000

    private struct State {
        var lastSuccess: Int64 = .min
        var lastFailure: Int64 = .min
    }

    private let clock: any WallClock
    private let state = Mutex(State())
    /// Successes are the hot path: one load while nothing failed, no lock.
    private let anyFailure = Atomic<Bool>(false)

    public init(clock: any WallClock = SystemWallClock()) {
        self.clock = clock
    }

    public func succeeded() {
        guard anyFailure.load(ordering: .relaxed) else { return }
        let now = clock.nowMilliseconds()
        state.withLock { $0.lastSuccess = now }
    }

    public func failed() {
        let now = clock.nowMilliseconds()
        state.withLock { $0.lastFailure = now }
        anyFailure.store(true, ordering: .relaxed)
    }

    /// True from the first failed commit until a commit succeeds, or until no commit has failed
    /// for `failureMemoryMilliseconds` (an idle replica is then judged by its probe alone).
    public var isFailing: Bool {
        guard anyFailure.load(ordering: .relaxed) else { return false }
        let now = clock.nowMilliseconds()
        return state.withLock { state in
            state.lastFailure > state.lastSuccess && now - state.lastFailure < Self.failureMemoryMilliseconds
        }
    }
}
