import GRDB
import Logging
import Metrics
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Writes outbox events to the sink in sequence order: write every line, make the sink durable,
/// and only then advance the checkpoint. A crash between the two re-emits from the checkpoint,
/// so delivery is at least once and consumers drop repeated ids.
public final class EventEmitter: Service {
    private let database: any DatabaseWriter
    /// When set (in `serve`), checkpoints advance through the callbacks' group commit.
    private let commits: CommitQueue?
    private let sink: any EventSink
    private let lease: EmitterLease
    private let logger: Logger
    private let batchSize: Int
    private let pollInterval: Duration
    private let renewInterval: Duration
    private let linger: Duration
    private let reopenRequested = Atomic<Bool>(false)
    private let holding = Atomic<Bool>(false)

    public init(database: any DatabaseWriter, commits: CommitQueue? = nil, sink: any EventSink, lease: EmitterLease, logger: Logger,
                batchSize: Int = 1000, pollInterval: Duration = .milliseconds(50), renewInterval: Duration = .seconds(2),
                linger: Duration = .milliseconds(20)) {
        self.database = database
        self.commits = commits
        self.sink = sink
        self.lease = lease
        self.logger = logger
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.renewInterval = renewInterval
        self.linger = linger
    }

    /// Whether this process currently holds the emitter lease.
    public var isHoldingLease: Bool { holding.load(ordering: .relaxed) }

    /// Asks for the output to be reopened before the next write (SIGHUP after logrotate).
    public func requestReopen() {
        reopenRequested.store(true, ordering: .relaxed)
    }

    public func run() async throws {
        defer { sink.close() }
        let clock = ContinuousClock()
        var lastRenew = clock.now - renewInterval
        var warnedWaiting = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if !isHoldingLease || clock.now - lastRenew >= renewInterval {
                    let acquired = try await database.write { try self.lease.acquire(in: $0) }
                    holding.store(acquired, ordering: .relaxed)
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
                if written == 0 {
                    try? await Task.sleep(for: pollInterval)
                } else if written < batchSize {
                    // Under load, let events gather for a moment: every batch costs an fsync of
                    // the events file and a checkpoint commit that competes with callbacks.
                    try? await Task.sleep(for: linger)
                }
            } catch {
                logger.error("event emitter failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
        await drainForShutdown()
    }

    /// After the HTTP server has stopped (services stop in reverse order), everything committed is
    /// in the outbox: write it all out before exiting.
    private func drainForShutdown() async {
        guard isHoldingLease else { return }
        do {
            while isHoldingLease, try await emitBatch() > 0 {}
            try await database.write { try self.lease.release(in: $0) }
            holding.store(false, ordering: .relaxed)
        } catch {
            logger.error("could not flush events before exit; they stay in the outbox", metadata: ["error": "\(error)"])
        }
    }

    /// For one-shot commands: when no other process holds the lease, write out everything in the
    /// outbox and release the lease. Returns false when another emitter (a running `serve`) holds it.
    public func emitPendingIfFree() async throws -> Bool {
        defer { sink.close() }
        let acquired = try await database.write { try self.lease.acquire(in: $0) }
        guard acquired else { return false }
        holding.store(true, ordering: .relaxed)
        while isHoldingLease, try await emitBatch() > 0 {}
        try await database.write { try self.lease.release(in: $0) }
        holding.store(false, ordering: .relaxed)
        return true
    }

    /// Emits up to one batch; returns how many events were written.
    @discardableResult
    public func emitBatch() async throws -> Int {
        if reopenRequested.exchange(false, ordering: .relaxed) {
            try sink.reopen()
            logger.info("reopened event output")
        }
        let (checkpoint, events) = try await database.read { db in
            let checkpoint = try EventOutbox.checkpoint(in: db)
            return (checkpoint, try EventOutbox.lines(after: checkpoint, limit: self.batchSize, in: db))
        }
        guard let last = events.last else { return 0 }
        var expected = checkpoint + 1
        for event in events {
            if event.sequence != expected {
                // Sequences are rowids assigned under SQLite's write lock, so only a delete of events
                // not yet emitted makes a hole; say so loudly rather than pass it on silently.
                logger.critical("outbox sequence gap", metadata: ["expected": "\(expected)", "found": "\(event.sequence)"])
            }
            expected = event.sequence + 1
        }
        // Blocking file I/O (a slow disk, a stalled stdout pipe) runs off the cooperative pool.
        try await NIOThreadPool.singleton.runIfActive { [sink] in
            for event in events { try sink.write(line: event.line) }
            try sink.sync()
        }
        Counter(label: "subscriber_sync_events_written_total").increment(by: events.count)
        let lease = self.lease
        let advance: @Sendable (Database) throws -> Bool = { try lease.advance(checkpoint: last.sequence, in: $0) }
        let stillHolding = if let commits { try await commits.submitWrite(advance) } else { try await database.write(advance) }
        holding.store(stillHolding, ordering: .relaxed)
        if !stillHolding {
            logger.warning("lost the event emitter lease; another process emits from here")
        }
        return events.count
    }
}
