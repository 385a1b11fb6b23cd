import Logging
import SubscriberSync

extension Logging {
    /// Operational logs go to stderr (as text, or one JSON object per line); stdout belongs to the
    /// event stream. `warnings` (from reading the settings) are logged first.
    static func bootstrap(level: String, format: String = "text", warnings: [String] = []) -> Logger {
        let level = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            StderrLogHandler(label: label, level: level, format: format == "json" ? .json : .text)
        }
        let logger = Logger(label: "subscriber-sync")
        for warning in warnings { logger.warning("\(warning)") }
        return logger
    }
}

enum Logging {}
