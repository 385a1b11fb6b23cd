import Logging
#if canImport(Glibc)
import Glibc
#endif

/// One JSON object per line on stderr (`--log-format json`), for log pipelines that parse
/// structured logs. Each line is one `write()`.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let clock = SystemWallClock()

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var json = JSONObjectWriter()
        json.string("time", Timestamps.rfc3339(milliseconds: clock.nowMilliseconds()))
        json.string("level", event.level.rawValue)
        json.string("label", label)
        json.string("message", "\(event.message)")
        for key in merged.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
            json.string(key, "\(merged[key]!)")
        }
        var line = json.finished()
        line.append(UInt8(ascii: "\n"))
        try? FileDescriptorIO.writeAll(fd: STDERR_FILENO, line, what: "stderr")
    }
}
