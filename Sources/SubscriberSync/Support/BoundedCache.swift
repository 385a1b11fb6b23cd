import Synchronization

/// A small thread-safe memo for values that are cheap to recompute but computed very often.
/// When it is full it forgets everything, so that an unbounded key space (account IDs from
/// unauthenticated callbacks, say) cannot grow it.
final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let capacity: Int
    private let entries = Mutex<[Key: Value]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    func lookup(_ key: Key) -> Value? {
        entries.withLock { $0[key] }
    }

    func remember(_ key: Key, _ value: Value) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = value
        }
    }
}
