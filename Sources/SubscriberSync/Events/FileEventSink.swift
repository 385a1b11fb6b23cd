#if canImport(Glibc)
import Glibc
#endif
import CFileSpace
import Synchronization

/// Events appended to a file, with logrotate-friendly reopening (SIGHUP) and optional rotation by
/// size. It only ever appends or renames; it never truncates a file a shipper may be reading.
public final class FileEventSink: EventSink {
    public let path: String
    public let rotateBytes: Int64?
    private let clock: any WallClock
    struct OpenFile {
        var fd: Int32
        var size: Int64
        /// Blocks are reserved up to here (see `reserve`).
        var reserved: Int64 = 0
    }

    /// Space is reserved a megabyte at a time: one syscall per megabyte of events, not per line.
    static let reservation: Int64 = 1 << 20
    private let file: Mutex<OpenFile?>

    public init(path: String, rotateBytes: Int64? = nil, clock: any WallClock = SystemWallClock()) throws {
        self.path = path
        self.rotateBytes = rotateBytes
        self.clock = clock
        self.file = Mutex(nil)
        try file.withLock { $0 = try Self.openForAppend(path) }
    }

    /// Opens `path` for appending. A file that ends in a partial line (a crash mid-write) gets that
    /// line terminated first, so the next event starts on a line of its own.
    static func openForAppend(_ path: String) throws -> OpenFile {
        let existed = access(path, F_OK) == 0
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EventSinkError(description: "cannot open \(path): \(SystemError.current)") }
        if !existed { syncDirectory(of: path) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let failure = SystemError.current
            Glibc.close(fd)
            throw EventSinkError(description: "cannot stat \(path): \(failure)")
        }
        var size = Int64(info.st_size)
        if size > 0 {
            let reader = open(path, O_RDONLY | O_CLOEXEC)
            var last: UInt8 = 0
            let got = reader >= 0 ? pread(reader, &last, 1, off_t(size - 1)) : -1
            if reader >= 0 { Glibc.close(reader) }
            if got == 1 && last != UInt8(ascii: "\n") {
                try FileDescriptorIO.writeAll(fd: fd, [UInt8(ascii: "\n")], what: path)
                size += 1
            }
        }
        return OpenFile(fd: fd, size: size)
    }

    public func write(line: [UInt8]) throws {
        try file.withLock { file in
            if file == nil { file = try Self.openForAppend(path) }
            if let rotateBytes, file!.size > 0, file!.size + Int64(line.count) > rotateBytes {
                try rotate(&file)
            }
            do {
                try Self.reserve(line.count, in: &file!, path: path)
                try FileDescriptorIO.writeAll(fd: file!.fd, line, what: path)
            } catch {
                // Part of the line may be in the file: reopen before the retry, so that the
                // partial line is terminated and the retried event starts a line of its own.
                Glibc.close(file!.fd)
                file = nil
                throw error
            }
            file!.size += Int64(line.count)
        }
    }

    /// Allocates the line's blocks before writing it, so that a full disk refuses the whole line
    /// instead of leaving half of it for shippers to read: a megabyte ahead while there is room,
    /// the line alone when there is not. The file's length does not change. Where the filesystem
    /// cannot reserve space this way, the write goes ahead (and a partial line is terminated on
    /// the retry).
    private static func reserve(_ count: Int, in file: inout OpenFile, path: String) throws {
        let end = file.size + Int64(count)
        guard end > file.reserved else { return }
        for length in [max(Int64(count), reservation), Int64(count)] {
            if fallocate(file.fd, subscriber_sync_falloc_keep_size, Int(file.size), Int(length)) == 0 {
                file.reserved = file.size + length
                return
            }
            let code = errno
            if code == EOPNOTSUPP || code == ENOSYS || code == EINTR { return }
            if code != ENOSPC || length == Int64(count) {
                throw EventSinkError(description: "write to \(path) failed: \(SystemError.describe(code))")
            }
        }
    }

    /// fdatasync, not fsync: it persists the appended bytes and the new file size (what a reader
    /// needs to find them), and skips only the modification time. That inode write cost the
    /// durable ingest benchmark about 8% of its rate, the disk being shared with the WAL's syncs.
    public func sync() throws {
        try file.withLock { file in
            guard let fd = file?.fd else { return }
            if fdatasync(fd) != 0 { throw EventSinkError(description: "fdatasync of \(path) failed: \(SystemError.current)") }
        }
    }

    public func reopen() throws {
        try file.withLock { file in
            if let fd = file?.fd { fsync(fd); Glibc.close(fd) }
            file = nil
            file = try Self.openForAppend(path)
        }
    }

    public func close() {
        file.withLock { file in
            if let fd = file?.fd { fsync(fd); Glibc.close(fd) }
            file = nil
        }
    }

    /// Renames the full file to `PATH.<UTC timestamp>` beside it and starts a new `PATH`.
    private func rotate(_ file: inout OpenFile?) throws {
        guard let current = file else { return }
        fsync(current.fd)
        Glibc.close(current.fd)
        file = nil
        let stamp = Timestamps.fileStamp(milliseconds: clock.nowMilliseconds())
        var target = "\(path).\(stamp)"
        var attempt = 1
        while access(target, F_OK) == 0 {
            target = "\(path).\(stamp)-\(attempt)"
            attempt += 1
        }
        guard rename(path, target) == 0 else {
            throw EventSinkError(description: "cannot rotate \(path) to \(target): \(SystemError.current)")
        }
        file = try Self.openForAppend(path)
        Self.syncDirectory(of: path)
    }

    /// A new or renamed file survives power loss only once its directory entry is on disk.
    static func syncDirectory(of path: String) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        Glibc.close(fd)
    }
}
