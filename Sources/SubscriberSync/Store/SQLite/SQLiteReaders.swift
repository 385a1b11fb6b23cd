import GRDB
import GRDBSQLite
import Synchronization

/// Read-only connections of the store's own for the read API's queries, run on the caller's
/// thread. GRDB's reader pool costs more than such a query: each read checks out a reader through a
/// dispatch barrier, hops onto the reader's serial queue and runs `PRAGMA schema_version` (one
/// more implicit transaction with its file locks), and under 64 connections the callers wait on
/// its queues. A point lookup here is one statement in one implicit transaction.
///
/// A connection is used by one thread at a time: it is taken out of the idle list for the whole
/// read and the read never suspends. There are never more connections than threads that read at
/// once; at most `keptIdle` are kept between reads.
final class SQLiteReaders: Sendable {
    let path: String
    private let keptIdle: Int
    private let state = Mutex<(idle: [SQLiteReader], closed: Bool)>(([], false))

    init(path: String, keptIdle: Int = 16) {
        self.path = path
        self.keptIdle = keptIdle
    }

    func read<Result>(_ body: (SQLiteReader) throws -> Result) throws -> Result {
        let taken = try state.withLock { state -> SQLiteReader? in
            guard !state.closed else { throw SQLiteFailure(message: "SQLite: the store is closed") }
            return state.idle.popLast()
        }
        let reader = try taken ?? SQLiteReader(path: path)
        defer {
            // A connection that failed mid-read keeps nothing: its statements were reset by
            // `BoundStatement`, and SQLite needs no recovery on a read-only connection.
            let surplus = state.withLock { state -> SQLiteReader? in
                guard !state.closed, state.idle.count < keptIdle else { return reader }
                state.idle.append(reader)
                return nil
            }
            surplus?.close()
        }
        return try body(reader)
    }

    /// Closes the idle connections; reads from then on fail, and a read in progress closes its
    /// connection when it ends.
    func close() {
        let idle = state.withLock { state in
            defer { state = ([], true) }
            return state.idle
        }
        for reader in idle { reader.close() }
    }
}

/// One read-only connection and its prepared statements, keyed by the caller's query numbers.
final class SQLiteReader: @unchecked Sendable {
    private var handle: OpaquePointer?
    private var statements: [OpaquePointer?] = []

    init(path: String) throws {
        var handle: OpaquePointer?
        let code = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_close_v2(handle)
            throw SQLiteFailure(message: "SQLite: cannot open \(path) for reading: \(message)")
        }
        // A reader waits only while the WAL is being recovered or reset; the writer's 10 s.
        sqlite3_busy_timeout(handle, 10_000)
        self.handle = handle
    }

    /// The statement numbered `key`, prepared from `sql` on first use and reset after each use
    /// (by `BoundStatement`).
    func statement(_ key: Int, _ sql: @autoclosure () -> String) throws -> BoundStatement {
        if key < statements.count, let prepared = statements[key] { return BoundStatement(prepared) }
        guard let handle else { throw SQLiteFailure(message: "SQLite: the connection is closed") }
        var prepared: OpaquePointer?
        let text = sql()
        guard sqlite3_prepare_v3(handle, text, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil) == SQLITE_OK, let prepared else {
            throw SQLiteFailure(message: "SQLite: \(String(cString: sqlite3_errmsg(handle)))")
        }
        if statements.count <= key { statements += Array(repeating: nil, count: key + 1 - statements.count) }
        statements[key] = prepared
        return BoundStatement(prepared)
    }

    func close() {
        for statement in statements { sqlite3_finalize(statement) }
        statements = []
        sqlite3_close_v2(handle)
        handle = nil
    }
}
