import NIOCore

/// A verified callback to pass on to one target. Recorded in the callback's own transaction, so
/// that Tencent's 200 means the job is durable; delivered later by the `Forwarder`.
public struct ForwardJob: Sendable, Equatable {
    /// Position in the queue, unique per store; 0 until stored.
    public var id: Int64
    /// The rule's URL, as configured.
    public var target: String
    /// `Subscriber-Sync-Delivery`: unique per (callback, target), the same on every retry.
    public var delivery: String
    public var command: String
    /// The query string as received, with Tencent's own `RequestTime` and `Sign` (replaced when sent).
    public var query: String
    /// The callback's `Content-Type`; empty when it had none.
    public var contentType: String
    public var body: ByteBuffer
    /// When the callback arrived (ms since the epoch).
    public var receivedAt: Int64
    /// Failed deliveries so far, and when the next may be tried (ms; 0: at once).
    public var attempts: Int
    public var nextAttemptAt: Int64

    public init(id: Int64 = 0, target: String, delivery: String, command: String, query: String, contentType: String,
                body: ByteBuffer, receivedAt: Int64, attempts: Int = 0, nextAttemptAt: Int64 = 0) {
        self.id = id
        self.target = target
        self.delivery = delivery
        self.command = command
        self.query = query
        self.contentType = contentType
        self.body = body
        self.receivedAt = receivedAt
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
    }
}
