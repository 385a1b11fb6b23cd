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
            throw EventSinkError(description: "fdatasync of stdout failed: \(SystemError.current)")
        }
    }

    public func reopen() throws {}
    public func close() {}
}
