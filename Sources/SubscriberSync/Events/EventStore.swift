/// What the emitter needs from the store: a lease, and the recorded events in sequence order.
/// The storage engines implement it (`SubscriberStorage` refines it), so the emitter depends on
/// this and not on any engine.
public protocol EventStore: Sendable {
    /// Takes or renews the emitter lease for `holder`. nil while another live holder has it.
    func acquireEmitterLease(holder: String, durationMilliseconds: Int64) async throws -> EmitterLeaseGrant?

    /// Events after the checkpoint, oldest first, numbered and rendered, for the lease holder.
    func nextEvents(for lease: EmitterLeaseGrant, limit: Int) async throws -> EventBatch

    /// Moves the checkpoint to `sequence` and renews the lease; false when the lease was lost, in
    /// which case nothing changed.
    func advanceCheckpoint(to sequence: Int64, for lease: EmitterLeaseGrant) async throws -> Bool

    func releaseEmitterLease(_ lease: EmitterLeaseGrant) async throws

    /// How far the emitter is.
    func emitterProgress() async throws -> EmitterProgress

    /// The lowest sequence still stored (`--outbox-retention` deletes older ones); nil when none is.
    func oldestRetainedSequence() async throws -> Int64?

    /// Retention, for the lease holder: among the oldest `window` stored events, deletes those
    /// already emitted (at or below the checkpoint) and recorded before `recordedBefore`, never the
    /// newest (it numbers the next). Returns how many; 0 when `lease` was lost.
    func deleteEmittedEvents(recordedBefore: Int64, window: Int, for lease: EmitterLeaseGrant) async throws -> Int
}
