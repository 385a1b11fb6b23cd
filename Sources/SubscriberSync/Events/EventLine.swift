/// Renders the CloudEvents 1.0 structured-mode JSON line of an outbox row, from the row's bytes as
/// stored. The emitter renders every line straight from SQLite's column buffers (`EventOutbox
/// .lines`), without a `String` per column: at full ingest it emits two events per callback, and
/// the per-column strings were most of its cost. `StoredEvent.line()` goes through here too, so
/// both paths are byte-identical by construction.
enum EventLine {
    /// The columns of one outbox row, each valid for the duration of the call.
    struct Columns {
        var sequence: Int64
        var id: UnsafeRawBufferPointer
        var type: UnsafeRawBufferPointer
        var source: UnsafeRawBufferPointer
        var subject: UnsafeRawBufferPointer
        var time: Int64
        var recordedTime: Int64
        var data: UnsafeRawBufferPointer
    }

    static func render(_ row: Columns) -> [UInt8] {
        var writer = JSONObjectWriter(capacity: 512 + row.data.count)
        writer.plain("specversion") { $0.append(contentsOf: "1.0".utf8) }
        writer.plain("id") { JSONObjectWriter.appendEscaped(row.id, to: &$0) }
        writer.plain("source") { appendSource(row.source, to: &$0) }
        writer.plain("type") { appendType(row.type, to: &$0) }
        writer.plain("subject") { JSONObjectWriter.appendEscaped(row.subject, to: &$0) }
        writer.plain("time") { Timestamps.appendRFC3339(milliseconds: row.time, to: &$0) }
        writer.plain("recordedtime") { Timestamps.appendRFC3339(milliseconds: row.recordedTime, to: &$0) }
        writer.plain("sequence") { Timestamps.appendDigits(row.sequence, width: 20, to: &$0) }
        writer.plain("datacontenttype") { $0.append(contentsOf: "application/json".utf8) }
        writer.raw("data", json: row.data)
        var bytes = writer.finished()
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// Rows store `<sdkappid>/<encoded account>` (see `EventOutbox.storedSource`); older rows the
    /// whole `tencent-chat://` URI.
    private static func appendSource(_ stored: UnsafeRawBufferPointer, to bytes: inout [UInt8]) {
        let scheme = EventOutbox.sourceScheme.utf8
        if stored.starts(with: scheme) {
            JSONObjectWriter.appendEscaped(stored, to: &bytes)
            return
        }
        bytes.append(contentsOf: scheme)
        guard let slash = stored.firstIndex(of: UInt8(ascii: "/")) else {
            JSONObjectWriter.appendEscaped(stored, to: &bytes)
            return
        }
        JSONObjectWriter.appendEscaped(UnsafeRawBufferPointer(rebasing: stored[..<slash]), to: &bytes)
        bytes.append(contentsOf: "/official-accounts/".utf8)
        JSONObjectWriter.appendEscaped(UnsafeRawBufferPointer(rebasing: stored[(slash + 1)...]), to: &bytes)
    }

    /// Rows store the type without its reverse-DNS prefix; older rows with it.
    private static func appendType(_ stored: UnsafeRawBufferPointer, to bytes: inout [UInt8]) {
        let prefix = EventType.prefix.utf8
        if !stored.starts(with: prefix) { bytes.append(contentsOf: prefix) }
        JSONObjectWriter.appendEscaped(stored, to: &bytes)
    }
}
