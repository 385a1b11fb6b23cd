#if canImport(Glibc)
import Glibc
#endif

/// Writes to a file descriptor: event lines, the export on stdout, log lines on stderr.
public enum FileDescriptorIO {
    public struct WriteError: Error, CustomStringConvertible {
        public var description: String
    }

    /// One `write()` per line; a short write (a full disk, a signal) continues where it stopped.
    public static func writeAll(fd: Int32, _ bytes: [UInt8], what: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw WriteError(description: "write to \(what) failed: \(SystemError.current)")
            }
            offset += written
        }
    }
}
