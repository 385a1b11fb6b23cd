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
            CopyText.append(pass, to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.subscriber, to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.requestedAt, to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.fields.subscribeTime, to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.fields.customString, to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.fields.msgFlag, to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.fields.lastSendMsgTime, to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(entry.eventID, to: &buffer)
            CopyText.separate(&buffer)
            CopyText.append(bytes: entry.eventData, to: &buffer)
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

    /// Keeps the latest entry of a subscriber listed more than once, and gives the planner the
    /// listing's statistics before it is compared with the store.
    static func deduplicate(pass: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        // Freshly copied rows have none until autovacuum gets to them; without them the planner
        // takes a chunk of 50,000 entries for a handful and may join it in a nested loop, once
        // per row of the account (measured: a chunk of a first sync ran for minutes instead of
        // two seconds).
        try await connection.query("ANALYZE listing", logger: logger)
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

    /// Runs inside the transaction that finishes the pass. When no other pass has rows, the table
    /// is emptied at once (deleting a million rows row by row took 3 s); the lock keeps another
    /// pass from staging between the look and the truncation, and that pass waits only for this
    /// commit.
    static func drop(pass: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("LOCK TABLE listing IN ACCESS EXCLUSIVE MODE", logger: logger)
        var others = true
        for try await found in try await connection.query("""
            SELECT EXISTS (SELECT 1 FROM listing WHERE pass < \(pass)) OR EXISTS (SELECT 1 FROM listing WHERE pass > \(pass))
            """, logger: logger).decode(Bool.self) {
            others = found
        }
        if !others {
            try await connection.query("TRUNCATE listing", logger: logger)
        } else {
            try await connection.query("DELETE FROM listing WHERE pass = \(pass)", logger: logger)
        }
    }
}

/// COPY's text format: tab-separated columns, `\N` for NULL, and backslash escapes for the
/// characters that would end a column or a row. Staging a million-row listing writes every byte
/// through here, so runs without such characters are copied whole, and numbers are written as
/// digits without making a String.
enum CopyText {
    static func separate(_ buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\t"))
    }

    static func append(_ value: String?, to buffer: inout ByteBuffer) {
        guard var value else {
            writeNull(&buffer)
            return
        }
        value.withUTF8 { append(bytes: UnsafeRawBufferPointer($0), to: &buffer) }
    }

    static func append(_ value: Int64?, to buffer: inout ByteBuffer) {
        guard let value else {
            writeNull(&buffer)
            return
        }
        DecimalDigits.withText(value) { _ = buffer.writeBytes($0) }
    }

    static func append(bytes: [UInt8], to buffer: inout ByteBuffer) {
        bytes.withUnsafeBytes { append(bytes: $0, to: &buffer) }
    }

    private static func append(bytes: UnsafeRawBufferPointer, to buffer: inout ByteBuffer) {
        var runStart = 0
        for index in bytes.indices {
            let escape: StaticString
            switch bytes[index] {
            case UInt8(ascii: "\\"): escape = "\\\\"
            case UInt8(ascii: "\t"): escape = "\\t"
            case UInt8(ascii: "\n"): escape = "\\n"
            case UInt8(ascii: "\r"): escape = "\\r"
            default: continue
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
            buffer.writeStaticString(escape)
            runStart = index + 1
        }
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart...]))
    }

    private static func writeNull(_ buffer: inout ByteBuffer) {
        buffer.writeStaticString("\\N")
    }
}
