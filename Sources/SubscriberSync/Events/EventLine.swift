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
        writer.plain("source") { line in expandSource(row.source) { JSONObjectWriter.appendEscaped($0, to: &line) } }
        writer.plain("type") { line in expandType(row.type) { JSONObjectWriter.appendEscaped($0, to: &line) } }
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

    /// The one definition of how rows store `source`: `<sdkappid>/<encoded account>` (see
    /// `EventOutbox.storedSource`), or, in rows older than that, the whole URI. Hands the URI to
    /// `piece` in pieces, so that callers can escape or copy them without a `String` in between.
    static func expandSource(_ stored: UnsafeRawBufferPointer, _ piece: (UnsafeRawBufferPointer) -> Void) {
        if stored.starts(with: sourceScheme.utf8) {
            piece(stored)
            return
        }
        pieces(sourceScheme, piece)
        guard let slash = stored.firstIndex(of: UInt8(ascii: "/")) else {
            piece(stored)
            return
        }
        piece(UnsafeRawBufferPointer(rebasing: stored[..<slash]))
        pieces("/official-accounts/", piece)
        piece(UnsafeRawBufferPointer(rebasing: stored[(slash + 1)...]))
    }

    /// How rows store `type`: without its reverse-DNS prefix, or with it in older rows.
    static func expandType(_ stored: UnsafeRawBufferPointer, _ piece: (UnsafeRawBufferPointer) -> Void) {
        if !stored.starts(with: EventType.prefix.utf8) { pieces(EventType.prefix, piece) }
        piece(stored)
    }

    static let sourceScheme = "tencent-chat://"

    private static func pieces(_ constant: String, _ piece: (UnsafeRawBufferPointer) -> Void) {
        var constant = constant
        constant.withUTF8 { piece(UnsafeRawBufferPointer($0)) }
    }
}
