import Logging
import Metrics
import Synchronization

/// Logs a run of failures of one kind without flooding the log, which in a full-disk outage is
/// often written to the same full disk: the first failure in full, then at most one summary line
/// per interval with the count, and one line when the first success ends the run.
///
/// A store on a nearly full disk can flap: a commit that fits in space already allocated (a WAL
/// that is reused after a checkpoint) succeeds between failures. So a run that starts again within
/// an interval of the last line is a relapse: it is not logged in full but counted, and reported by
/// the next summary line, or by its recovery line once an interval has passed since the last line.
/// However often the store flaps, a kind logs at most three lines per interval.
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
    }

    private struct State {
        /// The failures since the run started; kept after a success while its recovery line waits.
        var run: Run?
        var lastLineAt: Int64?
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
        let now = clock.nowMilliseconds()
        let line: (String, Logger.Metadata)? = state.withLock { state in
            failing.store(true, ordering: .relaxed)
            let lineIsDue = state.lastLineAt.map { now - $0 >= intervalMilliseconds } ?? true
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
            defer { state.run = run }
            guard lineIsDue, let lastLineAt = state.lastLineAt else { return nil }
            let text = summary(run.sinceLastLine, (now - lastLineAt + 500) / 1000, run.latestReason)
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
        let now = clock.nowMilliseconds()
        guard let ended = state.withLock({ state -> Run? in
            guard let run = state.run else {
                failing.store(false, ordering: .relaxed)
                return nil
            }
            if run.isRelapse, let lastLineAt = state.lastLineAt, now - lastLineAt < intervalMilliseconds { return nil }
            state.run = nil
            state.lastLineAt = now
            failing.store(false, ordering: .relaxed)
            return run
        }) else { return }
        logger.notice("\(recovered)", metadata: [
            "failures": "\(ended.total)", "duration_s": "\((now - ended.startedAt + 500) / 1000)",
        ])
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
