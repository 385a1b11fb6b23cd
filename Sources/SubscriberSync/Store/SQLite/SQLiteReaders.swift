import Foundation
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
    /// The idle connections, and how many times the store was closed: a connection taken before
    /// a close is closed when it comes back rather than kept.
    private let state = Mutex<(idle: [SQLiteReader], closes: Int)>(([], 0))

    init(path: String, keptIdle: Int = max(16, ProcessInfo.processInfo.activeProcessorCount)) {
        self.path = path
        self.keptIdle = keptIdle
    }

    func read<Result>(_ body: (SQLiteReader) throws -> Result) throws -> Result {
        let (taken, generation) = state.withLock { state in (state.idle.popLast(), state.closes) }
        let reader = try taken ?? SQLiteReader(path: path)
        defer {
            // A read that failed leaves nothing behind: `BoundStatement` reset its statements,
            // and a read-only connection needs no recovery.
            let surplus = state.withLock { state -> SQLiteReader? in
                guard state.closes == generation, state.idle.count < keptIdle else { return reader }
                state.idle.append(reader)
                return nil
            }
            surplus?.close()
        }
        return try body(reader)
    }

    /// Closes the idle connections; reads after it open new ones, as the store reopens on next use.
    func close() {
        let idle = state.withLock { state in
            defer { state = ([], state.closes + 1) }
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
        let code = sqlite3_prepare_v3(handle, text, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
        guard code == SQLITE_OK, let prepared else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(handle)), sql: text)
        }
        if statements.count <= key { statements += Array(repeating: nil, count: key + 1 - statements.count) }
        statements[key] = prepared
        return BoundStatement(prepared)
    }

    deinit {
        close()
    }

    func close() {
        guard handle != nil else { return }
        for statement in statements { sqlite3_finalize(statement) }
        statements = []
        sqlite3_close_v2(handle)
        handle = nil
    }
}
