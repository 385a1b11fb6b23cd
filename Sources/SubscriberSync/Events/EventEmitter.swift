import Logging
import Metrics
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Writes recorded events to the sink in sequence order: write every line, make the sink durable,
/// and only then advance the checkpoint. A crash between the two re-emits from the checkpoint,
/// so delivery is at least once and consumers drop repeated ids.
///
/// One emitter writes per store: the holder of the store's lease. The sink is opened when this
/// process first holds the lease, not before.
public final class EventEmitter: Service {
    private let store: any EventStore
    private let makeSink: @Sendable () throws -> any EventSink
    private let sink = Mutex<(any EventSink)?>(nil)
    private let holder: String
    private let logger: Logger
    private let batchSize: Int
    private let pollInterval: Duration
    private let renewInterval: Duration
    private let linger: Duration
    private let leaseDurationMilliseconds: Int64
    private let reopenRequested = Atomic<Bool>(false)
    private let lease = Mutex<EmitterLeaseGrant?>(nil)
    /// How long writes to the output may fail before this process hands the lease on, so that a
    /// replica whose output works takes over (a full disk, a closed pipe).
    private let giveUpAfter: Duration
    private let writeFailures: FailureLog
    private let storeFailures: FailureLog
    /// `--outbox-retention`: emitted events older than this are deleted by the lease holder; nil keeps all.
    private let retention: Duration?
    private let wallClock: any WallClock
    /// Rows looked at per retention statement: small, so that a callback's commit waiting for the
    /// writer waits milliseconds.
    static let retentionWindow = 500
    /// How long one round of deletions may hold up the writing of events.
    static let retentionRound: Duration = .milliseconds(250)
    /// Between rounds while a backlog lasts.
    static let retentionBacklogPause: Duration = .milliseconds(750)
    /// Every 30 s, or twice per window for a shorter one.
    var retentionInterval: Duration {
        guard let retention else { return .seconds(30) }
        return max(.seconds(1), min(.seconds(30), retention / 2))
    }

    /// The output failed (as opposed to the store).
    struct OutputFailure: Error, CustomStringConvertible {
        var underlying: any Error
        var description: String { "\(underlying)" }
    }

    /// With a 6 s lease renewed every 2 s and contenders retrying every second, a crashed holder is
    /// replaced within 7 s.
    public init(store: any EventStore, sink makeSink: @escaping @Sendable () throws -> any EventSink, holder: String, logger: Logger,
                batchSize: Int = 1000, pollInterval: Duration = .milliseconds(50), renewInterval: Duration = .seconds(2),
                linger: Duration = .milliseconds(20), leaseDurationMilliseconds: Int64 = 6_000, giveUpAfter: Duration = .seconds(10),
                retention: Duration? = nil, wallClock: any WallClock = SystemWallClock()) {
        self.retention = retention
        self.wallClock = wallClock
        self.store = store
        self.makeSink = makeSink
        self.holder = holder
        self.logger = logger
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.renewInterval = renewInterval
        self.linger = linger
        self.leaseDurationMilliseconds = leaseDurationMilliseconds
        self.giveUpAfter = giveUpAfter
        writeFailures = FailureLog(
            logger: logger, metricKind: "events_write", recovered: "events are written again",
            summary: { count, seconds, reason in "\(FailureLog.grouped(count)) event writes failed in the last \(seconds) s: \(reason)" })
        storeFailures = FailureLog(
            logger: logger, metricKind: "emitter_store", recovered: "the event emitter reaches the store again",
            summary: { count, seconds, reason in "the event emitter failed \(FailureLog.grouped(count)) times in the last \(seconds) s: \(reason)" })
    }

    /// Whether this process currently holds the emitter lease.
    public var isHoldingLease: Bool { lease.withLock { $0 != nil } }

    /// Asks for the output to be reopened before the next write (SIGHUP after logrotate).
    public func requestReopen() {
        reopenRequested.store(true, ordering: .relaxed)
    }

    public func run() async throws {
        defer { closeSink() }
        let clock = ContinuousClock()
        var lastRenew = clock.now - renewInterval
        var warnedWaiting = false
        var writesFailingSince: ContinuousClock.Instant?
        var standDownUntil: ContinuousClock.Instant?
        var nextPrune: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if let until = standDownUntil {
                    guard clock.now >= until else {
                        try? await Task.sleep(for: .seconds(1))
                        continue
                    }
                    standDownUntil = nil
                }
                if !isHoldingLease || clock.now - lastRenew >= renewInterval {
                    let acquired = try await acquire()
                    lastRenew = clock.now
                    if !acquired {
                        if !warnedWaiting {
                            logger.notice("another process holds the event emitter lease; waiting to take over")
                            warnedWaiting = true
                        }
                        try? await Task.sleep(for: .seconds(1))
                        continue
                    }
                    if warnedWaiting {
                        logger.notice("took over the event emitter lease")
                        warnedWaiting = false
                    }
                }
                let written = try await emitBatch()
                writesFailingSince = nil
                writeFailures.succeeded()
                storeFailures.succeeded()
                if retention != nil, nextPrune.map({ clock.now >= $0 }) ?? true {
                    // Set first: a round that fails waits for the next one like any other.
                    nextPrune = clock.now + retentionInterval
                    // A backlog (retention just turned on over a large outbox) goes in short rounds
                    // close together, between which events are written as usual.
                    if try await pruneOutbox() { nextPrune = clock.now + Self.retentionBacklogPause }
                }
                if written == 0 {
                    try? await Task.sleep(for: pollInterval)
                } else if written < batchSize {
                    // Under load, let events gather for a moment: every batch costs an fsync of
                    // the events file and a checkpoint commit that competes with callbacks.
                    try? await Task.sleep(for: linger)
                }
            } catch let failure as OutputFailure {
                writeFailures.failed("could not write events; retrying (they wait in the outbox)", reason: "\(failure)")
                let since = writesFailingSince ?? clock.now
                writesFailingSince = since
                if isHoldingLease && clock.now - since >= giveUpAfter {
                    // The lease expires unrenewed anyway while this loop retries; releasing it
                    // hands over at once, and standing down for a lease's length lets the others'
                    // once-a-second attempts win it. After that, the normal rules decide.
                    try? await release()
                    closeSink()
                    logger.warning("gave up the event emitter lease after failing to write events for \(giveUpAfter); a process that can write takes over")
                    writesFailingSince = nil
                    standDownUntil = clock.now + .milliseconds(leaseDurationMilliseconds)
                    continue
                }
                try? await Task.sleep(for: .seconds(1))
            } catch {
                storeFailures.failed("event emitter failed; retrying", reason: "\(error)")
                try? await Task.sleep(for: .seconds(1))
            }
        }
        await drainForShutdown()
    }

    /// Deletes emitted events older than the retention window, a small batch at a time with a
    /// pause between, for at most `retentionRound`: no event is written meanwhile. Returns whether
    /// it stopped with more to delete.
    private func pruneOutbox() async throws -> Bool {
        guard let retention, let grant = lease.withLock({ $0 }) else { return false }
        let cutoff = wallClock.nowMilliseconds() - Int64(retention.milliseconds)
        let started = ContinuousClock.now
        var deleted = 0
        var more = false
        while ContinuousClock.now - started < Self.retentionRound, !Task.isShuttingDownGracefully {
            let count = try await store.deleteEmittedEvents(recordedBefore: cutoff, window: Self.retentionWindow, for: grant)
            deleted += count
            // Fewer than a window: the rest of the window is too young or not yet emitted, and so
            // is everything after it.
            more = count == Self.retentionWindow
            guard more else { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
        if deleted > 0 {
            logger.info("deleted emitted events older than the outbox retention", metadata: ["events": "\(deleted)", "retention": "\(retention)"])
        }
        return more
    }

    private func acquire() async throws -> Bool {
        let grant = try await store.acquireEmitterLease(holder: holder, durationMilliseconds: leaseDurationMilliseconds)
        lease.withLock { $0 = grant }
        return grant != nil
    }

    private func release() async throws {
        guard let grant = lease.withLock({ $0 }) else { return }
        try await store.releaseEmitterLease(grant)
        lease.withLock { $0 = nil }
    }

    /// After the HTTP server has stopped (services stop in reverse order), everything committed is
    /// recorded: write it all out before exiting.
    /// A store that is briefly unavailable (a database failing over) gets a few more tries.
    private func drainForShutdown() async {
        guard isHoldingLease else { return }
        for attempt in 1...3 {
            do {
                while isHoldingLease, try await emitBatch() > 0 {}
                try await release()
                return
            } catch where attempt < 3 {
                logger.warning("could not flush events before exit; trying again", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            } catch {
                logger.error("could not flush events before exit; they stay in the outbox", metadata: ["error": "\(error)"])
            }
        }
    }

    /// For one-shot commands: when no other process holds the lease, write out every recorded
    /// event and release the lease. Returns false when another emitter (a running `serve`) holds it.
    public func emitPendingIfFree() async throws -> Bool {
        defer { closeSink() }
        guard try await acquire() else { return false }
        while isHoldingLease, try await emitBatch() > 0 {}
        try await release()
        return true
    }

    /// Emits up to one batch; returns how many events were written.
    @discardableResult
    public func emitBatch() async throws -> Int {
        guard let grant = lease.withLock({ $0 }) else { return 0 }
        let sink: any EventSink
        do {
            sink = try openSink()
            if reopenRequested.exchange(false, ordering: .relaxed) {
                try sink.reopen()
                logger.info("reopened event output")
            }
        } catch {
            throw OutputFailure(underlying: error)
        }
        let batch = try await store.nextEvents(for: grant, limit: batchSize)
        guard let last = batch.events.last else { return 0 }
        var expected = batch.checkpoint + 1
        for event in batch.events {
            if event.sequence != expected {
                // Every engine numbers events without holes, so only a delete of events not yet
                // emitted makes one; say so loudly rather than pass it on silently.
                logger.critical("outbox sequence gap", metadata: ["expected": "\(expected)", "found": "\(event.sequence)"])
            }
            expected = event.sequence + 1
        }
        // Blocking file I/O (a slow disk, a stalled stdout pipe) runs off the cooperative pool.
        do {
            try await NIOThreadPool.singleton.runIfActive { [events = batch.events] in
                for event in events { try sink.write(line: event.line) }
                try sink.sync()
            }
        } catch {
            throw OutputFailure(underlying: error)
        }
        Counter(label: "subscriber_sync_events_written_total").increment(by: batch.events.count)
        let stillHolding = try await store.advanceCheckpoint(to: last.sequence, for: grant)
        if !stillHolding {
            lease.withLock { $0 = nil }
            logger.warning("lost the event emitter lease; another process emits from here")
        }
        return batch.events.count
    }

    private func openSink() throws -> any EventSink {
        try sink.withLock { sink in
            if let sink { return sink }
            let opened = try makeSink()
            sink = opened
            return opened
        }
    }

    private func closeSink() {
        sink.withLock { sink in
            sink?.close()
            sink = nil
        }
    }
}
