import Testing
@testable import SubscriberSync

@Suite struct FailureReportingTests {
    func failureLog(_ log: CapturedLog, clock: FakeClock) -> FailureLog {
        FailureLog(logger: log.logger, clock: clock, recovered: "back",
                   summary: { count, seconds, reason in "refused \(FailureLog.grouped(count)) callbacks in the last \(seconds) s: \(reason)" })
    }

    @Test func theFirstFailureInFullThenOneSummaryPerIntervalThenTheRecovery() {
        let log = CapturedLog()
        let clock = FakeClock()
        let failures = failureLog(log, clock: clock)
        failures.succeeded()
        #expect(log.all.isEmpty, "a success outside a run logs nothing")
        for _ in 0..<7_713 {
            failures.failed("could not commit", reason: "database or disk is full")
            clock.advance(milliseconds: 1)
        }
        // 7,713 ms: the first line only; the next failure after 10 s brings the summary.
        #expect(log.all == ["error could not commit"])
        clock.advance(milliseconds: 2_287)
        failures.failed("could not commit", reason: "database or disk is full")
        #expect(log.all.last == "error refused 7,713 callbacks in the last 10 s: database or disk is full")
        failures.failed("could not commit", reason: "still full")
        #expect(log.all.count == 2)
        failures.succeeded()
        #expect(log.all.last == "notice back")
        failures.succeeded()
        clock.advance(milliseconds: 10_000)
        failures.failed("could not commit", reason: "again")
        #expect(log.all.count == 4 && log.all.last == "error could not commit", "a new run an interval later starts in full")
    }

    /// A store on a nearly full disk commits now and then between failures (a reused WAL).
    @Test func aFlappingStoreLogsAtMostThreeLinesPerInterval() {
        let log = CapturedLog()
        let clock = FakeClock()
        let failures = failureLog(log, clock: clock)
        var lineTimes: [Int64] = []
        // 60 s of alternating runs: 3 failures, 1 success, every 100 ms.
        for step in 0..<600 {
            let before = log.all.count
            if step % 4 == 3 {
                failures.succeeded()
            } else {
                failures.failed("could not commit", reason: "full")
            }
            if log.all.count > before { lineTimes.append(clock.nowMilliseconds()) }
            clock.advance(milliseconds: 100)
        }
        #expect(log.all.first == "error could not commit")
        #expect(log.all.filter { $0 == "error could not commit" }.count == 1, "relapses are not logged in full: \(log.all)")
        for (index, time) in lineTimes.enumerated() {
            let inWindow = lineTimes[index...].prefix { $0 < time + 10_000 }
            #expect(inWindow.count <= 3, "lines at \(lineTimes)")
        }
        // The last run is a relapse; its recovery waits for the interval since the last line.
        clock.advance(milliseconds: 10_000)
        failures.succeeded()
        #expect(log.all.last == "notice back")
        let linesAfter = log.all.count
        failures.succeeded()
        #expect(log.all.count == linesAfter, "a success after the recovery logs nothing")
    }

    @Test func aRelapseIsCountedByTheNextSummary() {
        let log = CapturedLog()
        let clock = FakeClock()
        let failures = failureLog(log, clock: clock)
        failures.failed("could not commit", reason: "full")
        clock.advance(milliseconds: 2_000)
        failures.succeeded()
        #expect(log.all == ["error could not commit", "notice back"])
        for _ in 0..<3 {
            clock.advance(milliseconds: 100)
            failures.failed("could not commit", reason: "full")
        }
        failures.succeeded()
        #expect(log.all.count == 2, "a relapse within the interval logs nothing yet: \(log.all)")
        clock.advance(milliseconds: 100)
        failures.failed("could not commit", reason: "still full")
        clock.advance(milliseconds: 9_600)
        failures.failed("could not commit", reason: "still full")
        #expect(log.all.last == "error refused 5 callbacks in the last 10 s: still full")
        failures.succeeded()
        #expect(log.all.last == "notice back", "the relapse was reported: its recovery is logged at once")
    }

    /// Nothing else may come for a while (a quiet night for the read API): a timer logs it.
    @Test func aHeldRecoveryIsLoggedOnceTheIntervalHasPassedWithoutAnotherCall() async {
        let log = CapturedLog()
        let clock = FakeClock()
        // The timer sleeps in real time and then asks the (fake) clock whether the line is due.
        let failures = FailureLog(logger: log.logger, clock: clock, interval: .milliseconds(200), recovered: "back",
                                  summary: { count, _, reason in "refused \(count): \(reason)" })
        failures.failed("could not read", reason: "down")
        failures.succeeded()
        failures.failed("could not read", reason: "down again")
        failures.failed("could not read", reason: "still down")
        failures.succeeded()
        #expect(await waitUntil(timeout: .seconds(1), interval: .milliseconds(10)) { log.all.count > 2 } == false,
                "held while the interval has not passed on the clock: \(log.all)")
        clock.advance(milliseconds: 200)
        #expect(await waitUntil(timeout: .seconds(30), interval: .milliseconds(10)) { log.all.count == 3 }, "\(log.all)")
        #expect(log.all.last == "notice back")
        #expect(log.metadata.last?["failures"] == "2" && log.metadata.last?["reason"] == "still down", "\(log.metadata)")
    }

    @Test func aWallClockThatWentBackDoesNotSilenceANewRun() {
        let log = CapturedLog()
        let clock = FakeClock()
        let failures = failureLog(log, clock: clock)
        failures.failed("could not commit", reason: "full")
        failures.succeeded()
        clock.advance(milliseconds: -3_600_000)
        failures.failed("could not commit", reason: "full again")
        #expect(log.all == ["error could not commit", "notice back", "error could not commit"])
        for _ in 0..<5 {
            clock.advance(milliseconds: 1)
            failures.failed("could not commit", reason: "full again")
        }
        #expect(log.all.count == 3, "the intervals go on from the new time: \(log.all)")
        clock.advance(milliseconds: 1)
        failures.succeeded()
        #expect(log.all.last == "notice back")
        #expect(log.metadata.last?["duration_s"] == "0", "\(log.metadata)")
    }

    @Test(arguments: [(0, "0"), (999, "999"), (1_000, "1,000"), (7_712, "7,712"), (1_234_567, "1,234,567")])
    func countsAreGrouped(count: Int, text: String) {
        #expect(FailureLog.grouped(count) == text)
    }

    @Test func osErrorsAreNamed() {
        #expect(SystemError.describe(28) == "No space left on device (errno 28)")
        #expect(SystemError.describe(32) == "Broken pipe (errno 32)")
    }

    @Test func commitsAreFailingFromTheFirstFailureUntilASuccessOrFiveQuietSeconds() {
        let clock = FakeClock()
        let health = CommitHealth(clock: clock)
        health.succeeded()
        #expect(!health.isFailing)
        health.failed()
        #expect(health.isFailing)
        clock.advance(milliseconds: 1)
        health.succeeded()
        #expect(!health.isFailing, "a commit succeeded")
        clock.advance(milliseconds: 1)
        health.failed()
        clock.advance(milliseconds: 4_999)
        #expect(health.isFailing)
        clock.advance(milliseconds: 1)
        #expect(!health.isFailing, "no failure for 5 s: the probe decides")
    }
}
