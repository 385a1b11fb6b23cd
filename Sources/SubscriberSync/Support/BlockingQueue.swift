import Dispatch
import Synchronization

/// A queue that a dedicated thread drains: producers never block, the consumer sleeps while the
/// queue is empty. Producers pay a semaphore signal only when the consumer is actually asleep.
final class BlockingQueue<Element: Sendable>: Sendable {
    private struct State: Sendable {
        var items: [Element] = []
        var sleeping = false
        var closed = false
    }

    private let state = Mutex(State())
    private let wakeUp = DispatchSemaphore(value: 0)

    /// Adds `item`; returns false (and drops nothing silently: the caller still owns `item`) once
    /// the queue is closed.
    func put(_ item: Element) -> Bool {
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            if state.closed { return (false, false) }
            state.items.append(item)
            defer { state.sleeping = false }
            return (true, state.sleeping)
        }
        if wake { wakeUp.signal() }
        return accepted
    }

    /// Blocks until there is something, then returns up to `limit` items, oldest first; nil once
    /// the queue is closed and empty.
    func take(limit: Int = .max) -> [Element]? {
        while true {
            let taken: [Element]? = state.withLock { state in
                if state.items.isEmpty {
                    if state.closed { return nil }
                    state.sleeping = true
                    return []
                }
                let count = min(state.items.count, limit)
                if count == state.items.count {
                    defer { state.items.removeAll(keepingCapacity: true) }
                    return state.items
                }
                defer { state.items.removeFirst(count) }
                return Array(state.items.prefix(count))
            }
            guard let taken else { return nil }
            if !taken.isEmpty { return taken }
            wakeUp.wait()
        }
    }

    /// Refuses further items; the consumer still gets what is queued, then nil.
    func close() {
        let wake = state.withLock { state -> Bool in
            state.closed = true
            defer { state.sleeping = false }
            return state.sleeping
        }
        if wake { wakeUp.signal() }
    }
}
