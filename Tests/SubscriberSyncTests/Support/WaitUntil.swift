// The one way tests wait for something: a condition polled until it holds or a deadline passes.
// Never a fixed sleep; the poll interval only sets how soon after the condition holds the wait ends.

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. Use the result:
/// `#expect(await waitUntil(...))`, or a guard that fails the test with what was seen.
func waitUntil(timeout: Duration, interval: Duration = .milliseconds(20),
               _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: interval)
    }
}
