/// An event ready for the sink: its sequence and its CloudEvents line, newline included.
public struct RenderedEvent: Sendable, Equatable {
    public let sequence: Int64
    public let line: [UInt8]

    public init(sequence: Int64, line: [UInt8]) {
        self.sequence = sequence
        self.line = line
    }
}

/// What the emitter writes next: the events after `checkpoint`.
public struct EventBatch: Sendable, Equatable {
    public var checkpoint: Int64
    public var events: [RenderedEvent]

    public init(checkpoint: Int64, events: [RenderedEvent]) {
        self.checkpoint = checkpoint
        self.events = events
    }
}

/// Where the emitter stands.
public struct EmitterProgress: Sendable, Equatable {
    /// The last sequence written out.
    public var checkpoint: Int64
    /// The newest recorded sequence (0 when none).
    public var newest: Int64
    /// When the oldest event not yet written was recorded, or nil when caught up.
    public var oldestPendingRecordedAt: Int64?

    public init(checkpoint: Int64, newest: Int64, oldestPendingRecordedAt: Int64?) {
        self.checkpoint = checkpoint
        self.newest = newest
        self.oldestPendingRecordedAt = oldestPendingRecordedAt
    }

    public var lag: Int64 { max(0, newest - checkpoint) }
}
