import Logging
import Metrics
import Synchronization

/// Logs a run of failures of one kind without flooding the log, which in a full-disk outage is
/// often written to the same full disk: the first failure in full, then at most one summary line
/// per interval with the count, and one line when the first success ends the run.
///
/// A store on a nearly full disk can flap: a commit that fits in space already allocated (a WAL
/// that is reused after a checkpoint) succeeds between failures. So a run that starts again within
/// an interval of the last line is a relapse: it is not logged in full but counted, and reported
/// by the next summary line, or by its recovery line (with the latest reason) once an interval
/// has passed since the last line, by a timer should no other call come. However often the store
/// flaps, a kind logs at most three lines per interval.
public final class FailureLog: Sendable {
    /// Builds the summary line from the count since the last line, the seconds it covers and the
    /// latest reason, e.g. "refused 7,712 callbacks in the last 10 s: database or disk is full".
    public typealias Summary = @Sendable (_ count: Int, _ seconds: Int64, _ reason: String) -> String

    private struct Run {
        var startedAt: Int64
        var total = 1
        var sinceLastLine: Int
        var latestReason: String
        /// Started within an interval of the last line, and not logged yet.
        var isRelapse: Bool
        /// A success came after the last failure, and the run's recovery line waits for the interval.
        var recoveryHeld = false
    }

    private struct State {
        var run: Run?
        var lastLineAt: Int64?
        var recoveryTimerSet = false
    }

    private let logger: Logger
    private let clock: any WallClock
    private let intervalMilliseconds: Int64
    private let summary: Summary
    private let recovered: String
    private let counter: Counter?
    private let state = Mutex(State())
    /// Read on every success (every callback): a load, not a lock, while nothing fails.
    private let failing = Atomic<Bool>(false)

    /// - Parameters:
    ///   - metricKind: counts every failure in `subscriber_sync_storage_errors_total{kind}`, when given.
    ///   - recovered: the line logged when a success ends a run, followed by the run's count and length.
    public init(logger: Logger, clock: any WallClock = SystemWallClock(), interval: Duration = .seconds(10), metricKind: String? = nil,
                recovered: String, summary: @escaping Summary) {
        self.logger = logger
        self.clock = clock
        intervalMilliseconds = Int64(interval.milliseconds)
        self.summary = summary
        self.recovered = recovered
        counter = metricKind.map { Counter(label: "subscriber_sync_storage_errors_total", dimensions: [("kind", $0)]) }
    }

    /// One failure: `message` with `metadata` in full when it starts a run, else counted.
    public func failed(_ message: @autoclosure () -> String, reason: @autoclosure () -> String, metadata: @autoclosure () -> Logger.Metadata = [:],
                       level: Logger.Level = .error) {
        counter?.increment()
        let line: (String, Logger.Metadata)? = state.withLock { state in
            let now = now(&state)
            failing.store(true, ordering: .relaxed)
            let lineIsDue = isDue(now, after: state.lastLineAt)
            guard var run = state.run else {
                state.run = Run(startedAt: now, sinceLastLine: lineIsDue ? 0 : 1, latestReason: reason(), isRelapse: !lineIsDue)
                guard lineIsDue else { return nil }
                state.lastLineAt = now
                var metadata = metadata()
                metadata["reason"] = "\(reason())"
                return (message(), metadata)
            }
            run.total += 1
            run.sinceLastLine += 1
            run.latestReason = reason()
            run.recoveryHeld = false
            defer { state.run = run }
            guard lineIsDue, let lastLineAt = state.lastLineAt else { return nil }
            let text = summary(run.sinceLastLine, max(0, now - lastLineAt + 500) / 1000, run.latestReason)
            run.sinceLastLine = 0
            run.isRelapse = false
            state.lastLineAt = now
            return (text, [:])
        }
        if let (text, metadata) = line { logger.log(level: level, "\(text)", metadata: metadata) }
    }

    /// A success: ends a run of failures, if one is going on, with one line; a relapse's line
    /// waits until an interval has passed since the last line.
    public func succeeded() {
        guard failing.load(ordering: .relaxed) else { return }
        take(state.withLock { state -> RecoveryStep in
            guard var run = state.run else {
                failing.store(false, ordering: .relaxed)
                return .nothing
            }
            let now = now(&state)
            if run.isRelapse, let lastLineAt = state.lastLineAt, !isDue(now, after: lastLineAt) {
                run.recoveryHeld = true
                state.run = run
                guard !state.recoveryTimerSet else { return .nothing }
                state.recoveryTimerSet = true
                return .wait(milliseconds: lastLineAt + intervalMilliseconds - now)
            }
            end(&state, at: now)
            return .ended(run, at: now)
        })
    }

    private enum RecoveryStep {
        case nothing
        case ended(Run, at: Int64)
        case wait(milliseconds: Int64)
    }

    private func take(_ step: RecoveryStep) {
        switch step {
        case .nothing: break
        case .ended(let run, let now): logRecovery(run, at: now)
        case .wait(let milliseconds): recoverLater(in: milliseconds)
        }
    }

    /// Logs a held recovery once its interval has passed, unless a failure came since (the run
    /// then goes on, and its next summary or recovery line reports it).
    private func recoverLater(in milliseconds: Int64) {
        Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(max(milliseconds, 1)))
            guard let self else { return }
            take(state.withLock { state -> RecoveryStep in
                guard let run = state.run, run.recoveryHeld else {
                    state.recoveryTimerSet = false
                    return .nothing
                }
                let now = now(&state)
                if let lastLineAt = state.lastLineAt, !isDue(now, after: lastLineAt) {
                    return .wait(milliseconds: lastLineAt + intervalMilliseconds - now)
                }
                state.recoveryTimerSet = false
                end(&state, at: now)
                return .ended(run, at: now)
            })
        }
    }

    private func end(_ state: inout State, at now: Int64) {
        state.run = nil
        state.lastLineAt = now
        failing.store(false, ordering: .relaxed)
    }

    private func logRecovery(_ run: Run, at now: Int64) {
        var metadata: Logger.Metadata = ["failures": "\(run.total)", "duration_s": "\(max(0, now - run.startedAt + 500) / 1000)"]
        // Nothing else told why this relapse failed.
        if run.isRelapse { metadata["reason"] = "\(run.latestReason)" }
        logger.notice("\(recovered)", metadata: metadata)
    }

    private func isDue(_ now: Int64, after lastLineAt: Int64?) -> Bool {
        guard let lastLineAt else { return true }
        return now - lastLineAt >= intervalMilliseconds
    }

    /// The time, read under the lock so that lines are stamped in the order they are decided.
    /// Should the wall clock have gone back (an NTP step), a line is due at once, and the
    /// intervals go on from there.
    private func now(_ state: inout State) -> Int64 {
        let now = clock.nowMilliseconds()
        if let lastLineAt = state.lastLineAt, now < lastLineAt { state.lastLineAt = now - intervalMilliseconds }
        return now
    }

    /// 7712 → "7,712": the counts in summary lines are read by people.
    public static func grouped(_ count: Int) -> String {
        let digits = Array(String(count.magnitude))
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return (count < 0 ? "-" : "") + text
    }
}
