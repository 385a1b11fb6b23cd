import Synchronization

/// Lets idle loops sleep long yet start at once when work arrives in this process: `wait` returns
/// at the next `signal` or after its limit, whichever comes first. A signal sent while nobody
/// waits is not kept; the limit bounds how late such work is noticed.
final class Wakeup: Sendable {
    private struct Waiters {
        var next = 0
        var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let waiters = Mutex(Waiters())

    func signal() {
        let woken = waiters.withLock { waiters -> [CheckedContinuation<Void, Never>] in
            guard !waiters.waiting.isEmpty else { return [] }
            defer { waiters.waiting.removeAll(keepingCapacity: true) }
            return Array(waiters.waiting.values)
        }
        for continuation in woken { continuation.resume() }
    }

    func wait(upTo limit: Duration) async {
        await withCheckedContinuation { continuation in
            let id = waiters.withLock { waiters in
                waiters.next += 1
                waiters.waiting[waiters.next] = continuation
                return waiters.next
            }
            Task {
                try? await Task.sleep(for: limit)
                waiters.withLock { $0.waiting.removeValue(forKey: id) }?.resume()
            }
        }
    }
}
