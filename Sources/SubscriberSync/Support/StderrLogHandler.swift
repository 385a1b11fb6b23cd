import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Operational logs on stderr, one line per message and one `write()` per line, as text (the
/// default) or as one JSON object per line (`--log-format json`) for pipelines that parse logs.
///
/// Text follows swift-log's `StreamLogHandler` layout (`<time> <level> <label> : <metadata>
/// [<source>] <message>`), but formats metadata when it writes: `StreamLogHandler` formats it again
/// whenever a key is set, and Hummingbird sets a request id on a logger copy for every request,
/// which was a measurable share of the server's CPU at full ingest.
public struct StderrLogHandler: LogHandler {
    public enum Format: Sendable {
        case text
        case json
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: Format
    private let clock = SystemWallClock()

    public init(label: String, level: Logger.Level, format: Format) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let time = Timestamps.rfc3339(milliseconds: clock.nowMilliseconds())
        var line: [UInt8]
        switch format {
        case .text:
            var text = "\(time) \(event.level) \(label) :"
            for key in merged.keys.sorted() { text += " \(key)=\(merged[key]!)" }
            text += " [\(event.source)] \(event.message)"
            line = Array(text.utf8)
        case .json:
            var json = JSONObjectWriter()
            json.string("time", time)
            json.string("level", event.level.rawValue)
            json.string("label", label)
            json.string("message", "\(event.message)")
            for key in merged.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
                json.string(key, "\(merged[key]!)")
            }
            line = json.finished()
        }
        line.append(UInt8(ascii: "\n"))
        try? FileDescriptorIO.writeAll(fd: STDERR_FILENO, line, what: "stderr")
    }
}
