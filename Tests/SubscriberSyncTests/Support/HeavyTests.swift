/// Tests that measure behaviour under load (crash, shutdown and failover under concurrent
/// callbacks) take turns: on two cores, two of them at once starve each other's load and prove
/// nothing. Everything else still runs in parallel beside them.
actor HeavyTests {
    static let shared = HeavyTests()
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Runs `body` when no other heavy test is running.
    static func oneAtATime<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await shared.acquire()
        do {
            let result = try await body()
            await shared.release()
            return result
        } catch {
            await shared.release()
            throw error
        }
    }

    private func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}
