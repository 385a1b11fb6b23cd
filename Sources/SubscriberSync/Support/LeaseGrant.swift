/// A lease row held by one process at a time (the emitter's, the reconciler's, the forwarder's).
/// `epoch` is the fencing number: it grows every time the lease changes hands, and every write a
/// holder makes checks it, so a holder that was paused past its expiry changes nothing after a
/// takeover. `Purpose` only keeps one lease from being passed where another is expected.
public struct LeaseGrant<Purpose>: Sendable, Equatable {
    public var holder: String
    public var epoch: Int64
    /// How long each renewal extends the lease.
    public var durationMilliseconds: Int64

    public init(holder: String, epoch: Int64, durationMilliseconds: Int64) {
        self.holder = holder
        self.epoch = epoch
        self.durationMilliseconds = durationMilliseconds
    }
}
