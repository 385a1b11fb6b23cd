#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Events on standard output (the default), for a supervisor or container runtime to collect.
public final class StdoutEventSink: EventSink {
    /// A failed write may have left part of a line: the retry starts with a newline.
    private let partialLine = Atomic<Bool>(false)

    public init() {}

    public func write(line: [UInt8]) throws {
        if partialLine.load(ordering: .relaxed) {
            try FileDescriptorIO.writeAll(fd: STDOUT_FILENO, [UInt8(ascii: "\n")], what: "stdout")
            partialLine.store(false, ordering: .relaxed)
        }
        do {
            try FileDescriptorIO.writeAll(fd: STDOUT_FILENO, line, what: "stdout")
        } catch {
            partialLine.store(true, ordering: .relaxed)
            throw error
        }
    }

    /// When stdout is redirected to a file, sync it (fdatasync, as `FileEventSink` does); on a pipe
    /// or terminal there is nothing to sync.
    public func sync() throws {
        if fdatasync(STDOUT_FILENO) != 0 && errno != EINVAL && errno != EROFS {
            throw EventSinkError(description: "fdatasync of stdout failed: errno \(errno)")
        }
    }

    public func reopen() throws {}
    public func close() {}
}

public enum FileDescriptorIO {
    /// One `write()` per line; a short write (a full disk, a signal) continues where it stopped.
    public static func writeAll(fd: Int32, _ bytes: [UInt8], what: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw EventSinkError(description: "write to \(what) failed: errno \(errno)")
            }
            offset += written
        }
    }
}
