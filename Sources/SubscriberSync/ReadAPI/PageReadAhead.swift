import Synchronization

/// Reads the next page of a paging while its caller is still receiving the current one.
///
/// A client pages sequentially: it cannot ask for page N+1 before page N has reached it, so each
/// page costs the store read and rendering plus the round trip, one after the other. The next
/// request's cursor is known as soon as page N is read, so its read is started right away and
/// the request waits only for whatever of it is left.
///
/// Why a page read ahead keeps the read API's promises:
/// - It carries its own read's sequence (every change up to it is reflected).
/// - It was read after the previous page of whichever paging takes it: a start replaces any page
///   held for the same cursor, so a second paging that reaches a cursor another one left a page
///   at gets a read started after its own previous page, and a subscriber who stays subscribed
///   through that paging is on one of its pages.
/// - It is handed out once, and only within `maxAge` of its start: a client that pauses gets a
///   fresh read.
///
/// Memory is bounded: at most `capacity` pages, none over `maxPageBytes` (a larger one is read
/// again at its request), and pages nobody asked for in time are dropped at the next start.
final class PageReadAhead<Page: Sendable>: Sendable {
    struct Key: Hashable, Sendable {
        var account: String
        /// nil: the first page.
        var after: String?
        var limit: Int
    }

    private struct Slot {
        var read: Task<Page?, Never>
        var started: ContinuousClock.Instant
        /// Start order: clock readings can tie.
        var serial: UInt64
    }

    private struct State {
        var held: [Key: Slot] = [:]
        /// Every read not yet over, held or not (a replaced one runs to its end), by serial.
        var running: [UInt64: Task<Page?, Never>] = [:]
        var started: UInt64 = 0
        var finished = false
    }

    private let maxAge: Duration
    private let capacity: Int
    private let maxPageBytes: Int
    private let bytes: @Sendable (Page) -> Int
    private let state = Mutex(State())

    init(maxAge: Duration, capacity: Int = 8, maxPageBytes: Int = 1 << 20, bytes: @escaping @Sendable (Page) -> Int) {
        self.maxAge = maxAge
        self.capacity = capacity
        self.maxPageBytes = maxPageBytes
        self.bytes = bytes
    }

    /// The page at `key`: the one read ahead for it, else read now by `read` (given the cursor).
    /// Then the page after it, at the cursor `next` finds (nil on the last page), is read ahead.
    /// nil when `read` finds nothing (the request reports that itself).
    func page(_ key: Key, next: (Page) -> String?, read: @escaping @Sendable (String?) async throws -> Page?) async throws -> Page? {
        var found = await take(key)
        if found == nil { found = try await read(key.after) }
        guard let page = found else { return nil }
        if let cursor = next(page) {
            start(Key(account: key.account, after: cursor, limit: key.limit)) { try await read(cursor) }
        }
        return page
    }

    /// Starts reading the page for `key`, in place of any held for it. A nil or thrown result is
    /// never handed out.
    func start(_ key: Key, read: @escaping @Sendable () async throws -> Page?) {
        let now = ContinuousClock.now
        let (maxPageBytes, bytes) = (self.maxPageBytes, self.bytes)
        state.withLock { state in
            guard !state.finished else { return }
            dropExpired(&state.held, now: now)
            state.held.removeValue(forKey: key)?.read.cancel()
            if state.held.count >= capacity, let oldest = state.held.min(by: { $0.value.serial < $1.value.serial }) {
                state.held.removeValue(forKey: oldest.key)?.read.cancel()
            }
            state.started &+= 1
            let serial = state.started
            let task = Task { [self] () -> Page? in
                defer { _ = self.state.withLock { $0.running.removeValue(forKey: serial) } }
                guard let page = try? await read(), bytes(page) <= maxPageBytes else { return nil }
                return page
            }
            state.held[key] = Slot(read: task, started: now, serial: serial)
            state.running[serial] = task
        }
    }

    /// The page read ahead for `key`, if one was started recently enough; it is handed out once.
    func take(_ key: Key) async -> Page? {
        let now = ContinuousClock.now
        let slot = state.withLock { state in
            defer { dropExpired(&state.held, now: now) }
            return state.held.removeValue(forKey: key)
        }
        guard let slot, now - slot.started < maxAge else { return nil }
        return await slot.read.value
    }

    /// Pages held now, taken or not.
    var held: Int { state.withLock { $0.held.count } }

    /// Starts nothing more and waits for the reads under way, so that none reaches a store being
    /// closed (which a read would open again).
    func finish() async {
        let reads = state.withLock { state in
            state.finished = true
            state.held.removeAll()
            return Array(state.running.values)
        }
        for read in reads { _ = await read.value }
    }

    private func dropExpired(_ held: inout [Key: Slot], now: ContinuousClock.Instant) {
        guard held.values.contains(where: { now - $0.started >= maxAge }) else { return }
        held = held.filter { now - $0.value.started < maxAge }
    }
}
