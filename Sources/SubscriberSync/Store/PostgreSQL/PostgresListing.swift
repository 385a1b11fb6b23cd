import Logging
import NIOCore
import PostgresNIO

/// A pass's listing on PostgreSQL: rows of the unlogged `listing` table under the pass's id,
/// streamed in with `COPY … FROM STDIN` (one round trip per page instead of one per entry). COPY
/// cannot replace, so a subscriber listed twice has two rows; `deduplicate` keeps the latest
/// before the listing is compared with the store.
enum PostgresListing {
    static func stage(_ entries: [ListedSubscriber], pass: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        guard !entries.isEmpty else { return }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(entries.count * 256)
        for entry in entries {
            CopyText.append(String(pass), to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.subscriber, to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(String(entry.requestedAt), to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.fields.subscribeTime.map(String.init), to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.fields.customString, to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.fields.msgFlag, to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.fields.lastSendMsgTime.map(String.init), to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.eventID, to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(String(decoding: entry.eventData, as: UTF8.self), to: &buffer)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        let data = buffer
        try await connection.copyFrom(
            table: "listing",
            columns: ["pass", "subscriber", "requested_at", "subscribe_time", "custom_string", "msg_flag", "last_send_msg_time",
                      "event_id", "event_data"],
            logger: logger
        ) { writer in
            try await writer.write(data)
        }
    }

    /// Keeps the latest entry of a subscriber listed more than once.
    static func deduplicate(pass: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        // Listed twice is rare (the account churned between pages): look before deleting.
        let repeated = try await connection.query("""
            SELECT 1 FROM listing WHERE pass = \(pass) GROUP BY subscriber HAVING COUNT(*) > 1 LIMIT 1
            """, logger: logger).collect()
        guard !repeated.isEmpty else { return }
        try await connection.query("""
            DELETE FROM listing l WHERE l.pass = \(pass)
              AND EXISTS (SELECT 1 FROM listing n WHERE n.pass = l.pass AND n.subscriber = l.subscriber AND n.position > l.position)
            """, logger: logger)
    }

    static func drop(pass: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("DELETE FROM listing WHERE pass = \(pass)", logger: logger)
    }
}

/// COPY's text format: tab-separated columns, `\N` for NULL, and backslash escapes for the
/// characters that would end a column or a row.
enum CopyText {
    static func separate(_ buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\t"))
    }

    static func append(_ value: String?, to buffer: inout ByteBuffer) {
        guard let value else {
            buffer.writeStaticString("\\N")
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            default: buffer.writeInteger(byte)
            }
        }
    }
}
