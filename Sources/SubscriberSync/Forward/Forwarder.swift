import AsyncHTTPClient
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Delivers queued after-callbacks: per target, oldest first, one at a time (or, with
/// `--forward-pipeline`, several back to back on one connection, answered in order), so a target
/// sees them in the order they were received; targets do not wait for each other. A failed delivery
/// holds its target's queue and is retried with exponential backoff and jitter (1 s up to 5 min)
/// until it is older than `--forward-max-age`; then it, and every other job of that target as old,
/// is dead-lettered (kept, logged, counted) and the queue moves on.
///
/// One process delivers per store: the holder of the forwarder lease. A job is removed only after
/// its target answered 2xx, so a crash or a lost lease repeats at most the deliveries of one batch;
/// `Subscriber-Sync-Delivery` lets the target drop repeats.
public final class Forwarder: Service {
    private let queue: any ForwardQueue
    private let options: ForwardOptions
    private let httpClient: HTTPClient
    private let ownsHTTPClient: Bool
    private let holder: String
    private let clock: any WallClock
    private let logger: Logger
    private let metrics = ForwardMetrics()
    private let signature: CallbackSignature?
    private let tuning: Tuning
    private let lease = Mutex<HeldLease?>(nil)
    /// Whether there is anything to deliver: the lease is taken and kept only then.
    private let hasWork = Mutex(false)

    /// The lease and until when this process may act on it: a margin before it would expire
    /// unrenewed, so that a replica taking it over never delivers beside this one.
    private struct HeldLease {
        var grant: ForwarderLeaseGrant
        var validUntil: ContinuousClock.Instant
    }

    static let leaseMargin: Duration = .seconds(1)
    private let wakeup = Wakeup()
    /// The forwarder's store operations, from the main loop and every target's worker alike.
    private let storeFailures: FailureLog

    public struct Tuning: Sendable {
        /// Pause when a target has nothing to deliver, unless this process queues a job meanwhile
        /// (`jobsQueued`); bounds how late another replica's jobs are noticed.
        public var pollInterval: Duration = .milliseconds(250)
        public var renewInterval: Duration = .seconds(2)
        public var leaseDurationMilliseconds: Int64 = 6_000
        /// How long one delivery may take before it counts as failed.
        public var deliveryTimeout: Duration = .seconds(10)
        public var batchSize = 100
        /// How often the queue's counts are read (metrics, targets not configured any more).
        public var refreshInterval: Duration = .seconds(5)
        public var minimumBackoff: Duration = .seconds(1)
        public var maximumBackoff: Duration = .seconds(300)
        public init() {}
    }

    /// - Parameter ownsHTTPClient: shut the client down when the forwarder stops (the HTTP server,
    ///   whose before-callbacks share it, has stopped by then: services stop in reverse order).
    public init(queue: any ForwardQueue, options: ForwardOptions, httpClient: HTTPClient, ownsHTTPClient: Bool, holder: String,
                clock: any WallClock = SystemWallClock(), logger: Logger, tuning: Tuning = Tuning()) {
        self.queue = queue
        self.options = options
        self.httpClient = httpClient
        self.ownsHTTPClient = ownsHTTPClient
        self.holder = holder
        self.clock = clock
        self.logger = logger
        self.tuning = tuning
        signature = options.token.map(CallbackSignature.init(token:))
        storeFailures = FailureLog(
            logger: logger, clock: clock, recovered: "the forwarder reaches the store again",
            summary: { count, seconds, reason in "the forwarder failed \(FailureLog.grouped(count)) times in the last \(seconds) s: \(reason)" })
    }

    public var isHoldingLease: Bool { currentLease() != nil }

    private func currentLease() -> ForwarderLeaseGrant? {
        lease.withLock { held in
            guard let current = held else { return nil }
            guard ContinuousClock.now < current.validUntil else {
                held = nil
                return nil
            }
            return current.grant
        }
    }

    /// This process committed forward jobs: idle targets look again now.
    public func jobsQueued() {
        wakeup.signal()
    }

    public func run() async throws {
        await deliverUntilShutdown()
        if let held = lease.withLock({ $0.take() }) {
            try? await queue.releaseForwarderLease(held.grant)
        }
        if ownsHTTPClient { try? await httpClient.shutdown() }
    }

    private func deliverUntilShutdown() async {
        let configured = options.rules.map(\.url)
        hasWork.withLock { $0 = !configured.isEmpty }
        await withTaskGroup(of: Void.self) { group in
            var workers = Set<String>()
            // Targets whose gauges were set: a drained target leaves the queue's summary, and its
            // gauges must drop to 0 rather than keep their last value.
            var reported = Set<String>()
            func startWorker(_ target: String) {
                guard workers.insert(target).inserted else { return }
                group.addTask { await self.deliverLoop(target: target) }
            }
            for target in configured { startWorker(target) }
            // Renewing runs on its own: counting the queue can be slow exactly when it is long (a
            // target back after an outage), and must not let the lease lapse meanwhile.
            group.addTask { await self.renewUntilShutdown() }
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                do {
                    let summaries = try await queue.forwardTargets()
                    for summary in summaries {
                        metrics.queue(summary)
                        if summary.pending > 0 { startWorker(summary.target) }
                    }
                    let listed = Set(summaries.map(\.target))
                    for target in reported.union(configured) where !listed.contains(target) {
                        metrics.queue(ForwardTargetSummary(target: target, pending: 0, dead: 0, oldestPendingAt: nil))
                    }
                    reported = listed.union(configured)
                    // Without rules, the lease is taken only for jobs left by an earlier configuration.
                    let work = !configured.isEmpty || summaries.contains { $0.pending > 0 }
                    hasWork.withLock { $0 = work }
                } catch {
                    storeFailures.failed("the forwarder could not count its queue; retrying", reason: "\(error)")
                }
                await pause(for: tuning.refreshInterval)
            }
            await group.waitForAll()
        }
    }

    /// Takes and renews the forwarder lease while there is work, and gives it up when there is none.
    private func renewUntilShutdown() async {
        let steady = ContinuousClock()
        var lastRenew = steady.now - tuning.renewInterval
        var warnedWaiting = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if hasWork.withLock({ $0 }) {
                if steady.now - lastRenew >= tuning.renewInterval {
                    do {
                        let asked = steady.now
                        let grant = try await queue.acquireForwarderLease(holder: holder, durationMilliseconds: tuning.leaseDurationMilliseconds)
                        lastRenew = asked
                        let validUntil = asked + .milliseconds(tuning.leaseDurationMilliseconds) - Self.leaseMargin
                        lease.withLock { $0 = grant.map { HeldLease(grant: $0, validUntil: validUntil) } }
                        if grant == nil, !warnedWaiting {
                            logger.notice("another process holds the forwarder lease; waiting to take over")
                            warnedWaiting = true
                        } else if grant != nil, warnedWaiting {
                            logger.notice("took over the forwarder lease")
                            warnedWaiting = false
                        }
                        storeFailures.succeeded()
                    } catch {
                        // The lease stays usable until its margin: a renewal may succeed before.
                        storeFailures.failed("the forwarder could not renew its lease; retrying", reason: "\(error)")
                    }
                }
            } else if let held = lease.withLock({ $0.take() }) {
                try? await queue.releaseForwarderLease(held.grant)
            }
            await pause(for: isHoldingLease ? .milliseconds(250) : .seconds(1))
        }
    }

    /// One target's deliveries, while this process holds the lease.
    private func deliverLoop(target: String) async {
        let name = ForwardRule.displayName(target)
        // With --forward-pipeline, the loop's own connection; it lives as long as the loop.
        var pipeline: PipelinedConnection?
        if options.pipeline > 1 {
            do {
                pipeline = try PipelinedConnection(url: target)
            } catch {
                logger.warning("cannot pipeline to this forward target; sending one request at a time", metadata: ["target": "\(name)", "reason": "\(error)"])
            }
        }
        defer { pipeline?.close() }
        let failures = FailureLog(
            logger: logger, clock: clock, recovered: "deliveries to the forward target succeed again",
            summary: { count, seconds, reason in "\(FailureLog.grouped(count)) deliveries to \(name) failed in the last \(seconds) s: \(reason)" })
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            guard let grant = currentLease() else {
                await pause(for: tuning.pollInterval)
                continue
            }
            do {
                let wait = try await deliverBatch(target: target, name: name, lease: grant, failures: failures, pipeline: pipeline)
                storeFailures.succeeded()
                if let wait { await pause(for: wait) }
            } catch {
                storeFailures.failed("the forwarder could not reach the store; retrying", reason: "\(error)", metadata: ["target": "\(name)"])
                await pause(for: .seconds(1))
            }
        }
    }

    /// Delivers up to one batch in order. Returns how long to wait before the next (nil: go on).
    private func deliverBatch(target: String, name: String, lease grant: ForwarderLeaseGrant, failures: FailureLog,
                              pipeline: PipelinedConnection?) async throws -> Duration? {
        // A pipelined batch is several windows long: between batches the target waits on the store.
        let jobs = try await queue.nextForwards(target: target, limit: pipeline == nil ? tuning.batchSize : max(tuning.batchSize, options.pipeline * 8))
        guard !jobs.isEmpty else {
            await wakeup.wait(upTo: tuning.pollInterval)
            return nil
        }
        var delivered: [Int64] = []
        var wait: Duration?
        var next = 0
        while next < jobs.count, !Task.isShuttingDownGracefully, currentLease() == grant {
            let now = clock.nowMilliseconds()
            if jobs[next].nextAttemptAt > now {
                wait = .milliseconds(jobs[next].nextAttemptAt - now)
                break
            }
            // One job at a time (the default): the target gets them in order. With
            // --forward-pipeline N, up to N due jobs go out on one connection, answered in order;
            // a job being retried goes alone, so that a failing target does not get the jobs
            // behind it again on every try. With --forward-concurrency N, up to N go out
            // together, started in order.
            let width = pipeline == nil ? options.concurrency : jobs[next].attempts > 0 ? 1 : options.pipeline
            var window = [jobs[next]]
            while window.count < width, next + window.count < jobs.count, jobs[next + window.count].nextAttemptAt <= now {
                window.append(jobs[next + window.count])
            }
            next += window.count
            let outcomes = if let pipeline { await deliver(window, via: pipeline, now: now) } else { await deliver(window, now: now) }
            var firstFailure: (job: ForwardJob, reason: String)?
            for (job, failure) in zip(window, outcomes) {
                if let failure {
                    metrics.delivered(target: name, result: "failed")
                    if firstFailure == nil { firstFailure = (job, failure) }
                    continue
                }
                delivered.append(job.id)
                metrics.delivered(target: name, result: "delivered")
                metrics.delayed(milliseconds: clock.nowMilliseconds() - job.receivedAt)
            }
            guard let (job, failure) = firstFailure else {
                failures.succeeded()
                continue
            }
            try await complete(delivered, lease: grant, target: name)
            delivered = []
            failures.failed("delivery to the forward target failed; retrying with backoff (later jobs of this target wait, in order)",
                            reason: failure, metadata: ["target": "\(name)", "command": "\(job.command)"], level: .warning)
            wait = try await failed(job, reason: failure, at: clock.nowMilliseconds(), lease: grant, target: name)
            break
        }
        try await complete(delivered, lease: grant, target: name)
        return wait
    }

    /// Delivers `jobs` at once; each outcome is nil on success, else why not.
    private func deliver(_ jobs: [ForwardJob], now: Int64) async -> [String?] {
        guard jobs.count > 1 else { return [await deliver(jobs[0], now: now)] }
        return await withTaskGroup(of: (Int, String?).self) { group in
            for (position, job) in jobs.enumerated() {
                group.addTask { (position, await self.deliver(job, now: now)) }
            }
            var outcomes = [String?](repeating: nil, count: jobs.count)
            for await (position, outcome) in group { outcomes[position] = outcome }
            return outcomes
        }
    }

    /// Delivers `jobs` on `pipeline`, in order; each outcome as `deliver(_:now:)`'s.
    private func deliver(_ jobs: [ForwardJob], via pipeline: PipelinedConnection, now: Int64) async -> [String?] {
        let requests = jobs.map { ForwardRequest.pipelined($0, endpoint: pipeline.endpoint, signature: signature, now: now) }
        return await pipeline.send(requests, timeout: tuning.deliveryTimeout).map { outcome in
            switch outcome {
            case .answered(let status): (200..<300).contains(status) ? nil : "answered HTTP \(status)"
            case .unanswered(let reason): reason
            }
        }
    }

    private func complete(_ ids: [Int64], lease grant: ForwarderLeaseGrant, target: String) async throws {
        guard !ids.isEmpty else { return }
        if try await !queue.completeForwards(ids, for: grant) {
            lostLease(grant)
        }
    }

    /// Records a failed try: dead-letters the job (and its target's jobs as old) past the max age,
    /// else schedules the next try. Returns how long the target now waits (nil: go on at once).
    private func failed(_ job: ForwardJob, reason: String, at now: Int64, lease grant: ForwarderLeaseGrant, target: String) async throws -> Duration? {
        let attempts = job.attempts + 1
        let expires = job.receivedAt + options.maxAgeMilliseconds
        if now >= expires {
            guard let dead = try await queue.deadLetterForwards(target: job.target, receivedBefore: now - options.maxAgeMilliseconds + 1, at: now,
                                                                error: reason, for: grant) else {
                lostLease(grant)
                return nil
            }
            metrics.delivered(target: target, result: "dead", count: dead)
            logger.error("dead-lettered forward jobs older than the forward max age; they are kept (subscriber-sync forwards --retry-dead queues them again)",
                         metadata: ["target": "\(target)", "jobs": "\(dead)", "reason": "\(reason)"])
            return nil
        }
        let delay = Self.backoff(attempts: attempts, minimum: tuning.minimumBackoff, maximum: tuning.maximumBackoff)
        // Never later than the job's expiry (but a minimum apart), so it is dead-lettered on time.
        let next = max(min(now + Int64(delay.milliseconds), expires), now + Int64(tuning.minimumBackoff.milliseconds))
        guard try await queue.postponeForward(job.id, attempts: attempts, nextAttemptAt: next, error: reason, for: grant) else {
            lostLease(grant)
            return nil
        }
        return .milliseconds(next - now)
    }

    private func lostLease(_ grant: ForwarderLeaseGrant) {
        lease.withLock { if $0?.grant == grant { $0 = nil } }
        logger.warning("lost the forwarder lease to another process; it delivers from here")
    }

    /// One try: nil on a 2xx answer, else why not.
    private func deliver(_ job: ForwardJob, now: Int64) async -> String? {
        let request = ForwardRequest.make(target: job.target, query: job.query, contentType: job.contentType, body: job.body,
                                          delivery: job.delivery, signature: signature, now: now)
        do {
            // The deadline covers the whole exchange, the answer's body included.
            let response = try await httpClient.execute(request, deadline: .now() + .nanoseconds(tuning.deliveryTimeout.nanoseconds))
            // Read the answer out so that the keep-alive connection can carry the next one.
            for try await _ in response.body {}
            let status = Int(response.status.code)
            return (200..<300).contains(status) ? nil : "answered HTTP \(status)"
        } catch {
            return "\(error)"
        }
    }

    /// `minimum` × 2^(attempts − 1), at most `maximum`, with up to a fifth taken off at random so
    /// that targets recovering together are not retried in step.
    static func backoff(attempts: Int, minimum: Duration, maximum: Duration) -> Duration {
        let exponent = min(max(attempts - 1, 0), 30)
        let base = min(Double(minimum.milliseconds) * Double(1 << exponent), Double(maximum.milliseconds))
        let jittered = base * Double.random(in: 0.8...1.0)
        return .milliseconds(Int64(max(Double(minimum.milliseconds), jittered)))
    }

    /// Sleeps `duration`, waking early when shutdown begins.
    private func pause(for duration: Duration) async {
        let steady = ContinuousClock()
        let end = steady.now + duration
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let left = end - steady.now
            guard left > .zero else { return }
            try? await Task.sleep(for: min(left, .milliseconds(250)))
        }
    }
}
