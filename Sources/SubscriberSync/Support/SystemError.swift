#if canImport(Glibc)
import Glibc
#endif

/// OS errors as people read them: "No space left on device (errno 28)" rather than a bare number.
public enum SystemError {
    public static func describe(_ code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }

    /// The calling thread's `errno`, described; read it before any other call can change it.
    public static var current: String { describe(errno) }
}
