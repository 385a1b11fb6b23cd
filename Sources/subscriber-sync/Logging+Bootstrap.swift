import Logging
import SubscriberSync

extension Logging {
    /// Operational logs go to stderr (as text, or one JSON object per line); stdout belongs to the
    /// event stream.
    static func bootstrap(level: String, format: String = "text") -> Logger {
        let level = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            StderrLogHandler(label: label, level: level, format: format == "json" ? .json : .text)
        }
        return Logger(label: "subscriber-sync")
    }
}

enum Logging {}
