import GRDB

/// The currently subscribed subscribers as JSON lines, streamed from a read transaction so that a
/// large store is never held in memory and a running `serve` is not disturbed.
public enum SubscriberExport {
    public static func write(database: DatabasePool, account: String?, to output: ([UInt8]) throws -> Void) throws {
        try database.read { db in
            var sql = """
                SELECT account, subscriber, subscribe_time, msg_flag, custom_string, last_send_msg_time, since, origin
                FROM subscribers WHERE subscribed = 1
                """
            var arguments: StatementArguments = []
            if let account {
                sql += " AND account = ?"
                arguments = [account]
            }
            sql += " ORDER BY account, subscriber"
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() {
                var line = JSONObjectWriter()
                line.string("officialAccount", row[0])
                line.string("subscriber", row[1])
                line.int("subscribeTime", orNull: row[2])
                line.string("msgFlag", orNull: row[3])
                line.string("customString", orNull: row[4])
                line.int("lastSendMsgTime", orNull: row[5])
                line.int("since", orNull: row[6])
                line.string("origin", row[7])
                var bytes = line.finished()
                bytes.append(UInt8(ascii: "\n"))
                try output(bytes)
            }
        }
    }
}
