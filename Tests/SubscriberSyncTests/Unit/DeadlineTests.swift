import Synchronization
import Testing
@testable import SubscriberSync

/// `Deadline.run` answers its caller when the operation ends, when the limit passes, or when the
/// caller is cancelled, whichever comes first, even if the operation does not listen.
@Suite(.timeLimit(.minutes(1))) struct DeadlineTests {
    /// An operation that ignores cancellation: it ends only when the test opens it.
    final class Deaf: Sendable {
        private struct State {
            var started = false
            var ended = false
            var opened = false
            var waiting: CheckedContinuation<Void, Never>?
        }
        private let state = Mutex(State())
        var started: Bool { state.withLock { $0.started } }
        var ended: Bool { state.withLock { $0.ended } }

        func run() async -> Int {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    state.started = true
                    if state.opened { return true }
                    state.waiting = continuation
                    return false
                }
                if now { continuation.resume() }
            }
            state.withLock { $0.ended = true }
            return 1
        }

        func open() {
            state.withLock { state in
                state.opened = true
                return state.waiting.take()
            }?.resume()
        }
    }

    @Test func aCancelledCallerIsAnsweredAtOnceThoughTheOperationDoesNotListen() async throws {
        let deaf = Deaf()
        let caller = Task { try await Deadline.run("a deaf operation", within: .seconds(3_600)) { await deaf.run() } }
        try #require(await waitUntil(timeout: .seconds(30), interval: .milliseconds(5)) { deaf.started })
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        #expect(!deaf.ended, "answered before the operation ended")
        deaf.open()
    }

    @Test func aCallerCancelledBeforeItBeginsIsAnsweredAtOnce() async throws {
        let deaf = Deaf()
        let caller = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await Deadline.run("a deaf operation", within: .seconds(3_600)) { await deaf.run() }
        }
        await #expect(throws: CancellationError.self) { try await caller.value }
        #expect(!deaf.ended)
        deaf.open()
    }

    @Test func theOperationsAnswerOrTheLimit() async throws {
        #expect(try await Deadline.run("quick", within: .seconds(60)) { 7 } == 7)
        let deaf = Deaf()
        await #expect(throws: Deadline.Exceeded.self) { try await Deadline.run("deaf", within: .milliseconds(50)) { await deaf.run() } }
        deaf.open()
    }
}
