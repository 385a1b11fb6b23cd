import Synchronization

/// Reads the next page of a paging while its caller is still receiving the current one.
///
/// A client pages sequentially: it cannot ask for page N+1 before page N has reached it, so each
/// page costs the store read and rendering plus the round trip, one after the other. The next
/// request's cursor is known as soon as page N is rendered, so its read is started right away
/// and the request waits only for whatever of it is left.
///
/// A page read ahead is an answer as of its own read: it carries that read's sequence, so it
/// keeps the read API's promise (every change up to the sequence is reflected). It is handed out
/// only within `maxAge` of its read, so a client that pauses gets a fresh read, and at most once.
/// The number of pages held is bounded, and a paging nobody continues costs one read and its
/// slot until the next read ahead.
final class PageReadAhead<Page: Sendable>: Sendable {
    struct Key: Hashable, Sendable {
        var account: String
        var after: String
        var limit: Int
    }

    private struct Slot {
        var read: Task<Page?, Never>
        var started: ContinuousClock.Instant
        /// Start order: clock readings can tie.
        var serial: UInt64
    }

    private let maxAge: Duration
    private let capacity: Int
    private let slots = Mutex<(held: [Key: Slot], started: UInt64)>(([:], 0))

    init(maxAge: Duration, capacity: Int = 32) {
        self.maxAge = maxAge
        self.capacity = capacity
    }

    /// Starts reading the page for `key` unless one is already held for it. A nil or thrown
    /// result is never handed out: the request reads for itself and reports what it finds.
    func start(_ key: Key, read: @escaping @Sendable () async throws -> Page?) {
        let now = ContinuousClock.now
        slots.withLock { slots in
            if slots.held[key] != nil { return }
            // Pages nobody asked for in time are dropped here rather than kept until the slots fill.
            if slots.held.values.contains(where: { now - $0.started >= maxAge }) {
                slots.held = slots.held.filter { now - $0.value.started < maxAge }
            }
            if slots.held.count >= capacity, let oldest = slots.held.min(by: { $0.value.serial < $1.value.serial }) {
                slots.held.removeValue(forKey: oldest.key)
            }
            slots.started &+= 1
            slots.held[key] = Slot(read: Task { try? await read() }, started: now, serial: slots.started)
        }
    }

    /// Pages held now, taken or not (for tests).
    var held: Int { slots.withLock { $0.held.count } }

    /// The page read ahead for `key`, if one was started recently enough; it is handed out once.
    func take(_ key: Key) async -> Page? {
        let now = ContinuousClock.now
        guard let slot = slots.withLock({ $0.held.removeValue(forKey: key) }), now - slot.started < maxAge else { return nil }
        return await slot.read.value
    }
}
