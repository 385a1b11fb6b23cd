import Synchronization

/// What a set of looping clients saw.
final class LoadRecorder: Sendable {
    let acknowledged = Mutex<[String]>([])
    let attempts = Atomic<Int>(0)
    let refusals = Atomic<Int>(0)
    /// How often each HTTP status answered a refusal.
    let refusalStatuses = Mutex<[Int: Int]>([:])
    let connectionErrors = Atomic<Int>(0)
    let stopRequested = Atomic<Bool>(false)

    var acknowledgedSubscribers: [String] { acknowledged.withLock { $0 } }
    func stop() { stopRequested.store(true, ordering: .relaxed) }
    func refused(status: Int) {
        refusals.add(1, ordering: .relaxed)
        refusalStatuses.withLock { $0[status, default: 0] += 1 }
    }
}
