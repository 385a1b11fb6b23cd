import Synchronization

/// What a set of looping clients saw.
final class LoadRecorder: Sendable {
    let acknowledged = Mutex<[String]>([])
    let attempts = Atomic<Int>(0)
    let refusals = Atomic<Int>(0)
    let connectionErrors = Atomic<Int>(0)
    let stopRequested = Atomic<Bool>(false)

    var acknowledgedSubscribers: [String] { acknowledged.withLock { $0 } }
    func stop() { stopRequested.store(true, ordering: .relaxed) }
}
