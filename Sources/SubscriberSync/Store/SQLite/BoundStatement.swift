import GRDB
import GRDBSQLite

/// Binds and steps one of GRDB's cached statements through the SQLite C API. The callback path
/// runs a handful of statements per subscriber inside the single writer; GRDB's general-purpose
/// arguments (an array of boxed values) and rows (a class per fetch) cost more there than SQLite's
/// own work. GRDB still prepares, caches and finalizes the statements (`SQLiteReader` its own).
struct BoundStatement: ~Copyable {
    private let handle: OpaquePointer
    /// What keeps the prepared statement alive while it is used (GRDB's `Statement`).
    private let owner: AnyObject?

    init(_ statement: Statement) {
        owner = statement
        handle = statement.sqliteStatement
    }

    init(_ handle: OpaquePointer) {
        owner = nil
        self.handle = handle
    }

    private var sql: String {
        sqlite3_sql(handle).map { String(cString: $0) } ?? ""
    }

    deinit {
        sqlite3_reset(handle)
    }

    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    /// An empty string must still bind as text: SQLite reads a null pointer as NULL.
    private func bindText(_ index: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        let start = (bytes.baseAddress ?? UnsafeRawPointer(("" as StaticString).utf8Start)).assumingMemoryBound(to: CChar.self)
        try check(sqlite3_bind_text(handle, index, start, Int32(bytes.count), Self.transient))
    }

    /// A failed bind must not let the statement run with the previous caller's value.
    private func check(_ code: Int32) throws {
        guard code == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "cannot bind a parameter", sql: sql)
        }
    }

    func bind(_ index: Int32, _ value: String) throws {
        var value = value
        try value.withUTF8 { try bindText(index, UnsafeRawBufferPointer($0)) }
    }

    func bind(_ index: Int32, _ value: String?) throws {
        if let value { try bind(index, value) } else { try check(sqlite3_bind_null(handle, index)) }
    }

    func bind(_ index: Int32, _ value: Int64) throws {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    func bind(_ index: Int32, _ value: Int64?) throws {
        if let value { try bind(index, value) } else { try check(sqlite3_bind_null(handle, index)) }
    }

    func bind(_ index: Int32, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try bindText(index, $0) }
    }

    /// Steps once: true when a row is available, false when the statement is done.
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            let connection = sqlite3_db_handle(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)),
                                sql: sql)
        }
    }

    /// Runs a statement that returns no rows.
    func execute() throws {
        while try step() {}
    }

    /// Rows inserted, updated or deleted by the last completed statement of the connection.
    var changes: Int {
        Int(sqlite3_changes(sqlite3_db_handle(handle)))
    }

    func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    func optionalInt64(_ column: Int32) -> Int64? {
        isNull(column) ? nil : sqlite3_column_int64(handle, column)
    }

    /// The column's UTF-8 bytes, valid only until the next `step()` or the end of the statement:
    /// for rendering straight from SQLite's buffer without a `String` in between.
    func text(_ column: Int32) -> UnsafeRawBufferPointer {
        guard let text = sqlite3_column_text(handle, column) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: text, count: Int(sqlite3_column_bytes(handle, column)))
    }

    func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    /// `text(_:)`, or nil for NULL.
    func optionalText(_ column: Int32) -> UnsafeRawBufferPointer? {
        isNull(column) ? nil : text(column)
    }

    func optionalString(_ column: Int32) -> String? {
        guard let text = sqlite3_column_text(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }
}
