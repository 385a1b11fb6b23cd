/// The reconciler's lease: while a process holds it, no other process on the same store runs a
/// pass, so passes never overlap and their REST calls stay within one `--api-rate-limit`
/// (Tencent's 200 calls/s is per app, whatever the number of replicas). Like the emitter's, it has
/// a fencing number, and it remembers when the last run started, so that replicas share one
/// schedule.
public struct ReconcileLeaseGrant: Sendable, Equatable {
    public var holder: String
    public var epoch: Int64
    public var durationMilliseconds: Int64

    public init(holder: String, epoch: Int64, durationMilliseconds: Int64) {
        self.holder = holder
        self.epoch = epoch
        self.durationMilliseconds = durationMilliseconds
    }
}
