import Synchronization

/// Waits for `operation` at most `limit`, then throws `Deadline.Exceeded` while the operation goes
/// on in the background (its result is dropped). For calls into a library that would otherwise
/// wait without bound, such as a connection pool queueing requests while its server is down:
/// a callback must get its 503 before Tencent's 2 s are up, and SIGTERM must not wait forever.
/// Cancelling the caller likewise throws `CancellationError` at once: the operation is told, but
/// one that does not listen (a statement on a connection its server dropped) must not hold a
/// shutting-down pass for the rest of its patience.
enum Deadline {
    struct Exceeded: Error, CustomStringConvertible {
        let what: String
        let limit: Duration
        var description: String { "\(what) did not finish within \(limit)" }
    }

    /// Whoever finishes first (the operation or the timer) resumes the caller, once.
    private final class Race<T: Sendable>: Sendable {
        let waiting = Mutex<CheckedContinuation<T, any Error>?>(nil)
        let tasks = Mutex<(work: Task<Void, Never>?, timer: Task<Void, Never>?)>((nil, nil))

        func finish(with result: Result<T, any Error>) -> Bool {
            guard let continuation = waiting.withLock({ $0.take() }) else { return false }
            continuation.resume(with: result)
            return true
        }

        func cancel() {
            let (work, timer) = tasks.withLock { ($0.work, $0.timer) }
            work?.cancel()
            if finish(with: .failure(CancellationError())) { timer?.cancel() }
        }
    }

    static func run<T: Sendable>(_ what: String, within limit: Duration,
                                 _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = Race<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                race.waiting.withLock { $0 = continuation }
                let work = Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await operation()) } catch { result = .failure(error) }
                    if race.finish(with: result) { race.tasks.withLock { $0.timer?.cancel() } }
                }
                let timer = Task {
                    try? await Task.sleep(for: limit)
                    guard !Task.isCancelled, race.finish(with: .failure(Exceeded(what: what, limit: limit))) else { return }
                    work.cancel()
                }
                race.tasks.withLock { $0 = (work, timer) }
                // The handler below may have run before the tasks existed.
                if Task.isCancelled { race.cancel() }
            }
        } onCancel: {
            race.cancel()
        }
    }
}
