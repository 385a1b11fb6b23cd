/// The right to write the event stream, held by one process at a time. `epoch` is the fencing
/// number: it grows every time the lease changes hands, and every write a holder makes checks it,
/// so a holder that was paused past its expiry cannot advance the checkpoint after a takeover.
public struct EmitterLeaseGrant: Sendable, Equatable {
    public var holder: String
    public var epoch: Int64
    /// How long each renewal (an acquisition or a checkpoint move) extends the lease.
    public var durationMilliseconds: Int64

    public init(holder: String, epoch: Int64, durationMilliseconds: Int64) {
        self.holder = holder
        self.epoch = epoch
        self.durationMilliseconds = durationMilliseconds
    }
}
