/// Where event lines go. Each line is handed to one `write()` call, so that concurrent readers
/// (tail, log shippers) never see half a line from us.
public protocol EventSink: Sendable {
    func write(line: [UInt8]) throws
    /// Makes everything written so far durable before the emitter advances its checkpoint.
    func sync() throws
    /// Reopens the output (after logrotate moved it away); a no-op for stdout.
    func reopen() throws
    func close()
}

public struct EventSinkError: Error, CustomStringConvertible {
    public var description: String
}
