import Logging
import Synchronization

/// A logger whose lines the test reads back: "level message" in `all`, metadata left out; each
/// line's metadata in `metadata`.
final class CapturedLog: Sendable {
    private let lines = Mutex<[(text: String, metadata: [String: String])]>([])

    var all: [String] { lines.withLock { $0.map(\.text) } }

    var metadata: [[String: String]] { lines.withLock { $0.map(\.metadata) } }

    var logger: Logger {
        Logger(label: "captured") { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }.mapValues { "\($0)" }
            log.lines.withLock { $0.append(("\(event.level) \(event.message)", merged)) }
        }
    }
}
