import Synchronization
@testable import SubscriberSync

/// Collects event lines in memory; can be told to fail, to test that the checkpoint waits for a
/// successful sync.
final class MemoryEventSink: EventSink {
    private struct State { var lines: [[UInt8]] = []; var failWrites = false; var synced = 0; var reopened = 0 }
    private let state = Mutex(State())

    var lines: [String] { state.withLock { $0.lines.map { String(decoding: $0, as: UTF8.self) } } }
    var reopenCount: Int { state.withLock { $0.reopened } }

    func failWrites(_ fail: Bool) { state.withLock { $0.failWrites = fail } }

    func write(line: [UInt8]) throws {
        try state.withLock { state in
            if state.failWrites { throw EventSinkError(description: "disk full (test)") }
            state.lines.append(line)
        }
    }

    func sync() throws { state.withLock { $0.synced += 1 } }
    func reopen() throws { state.withLock { $0.reopened += 1 } }
    func close() {}
}
