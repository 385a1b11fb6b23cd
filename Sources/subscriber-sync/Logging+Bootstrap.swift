import Logging

extension Logging {
    /// Operational logs go to stderr; stdout belongs to the event stream.
    static func bootstrap(level: String) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: level) ?? .info
            return handler
        }
        return Logger(label: "subscriber-sync")
    }
}

enum Logging {}
