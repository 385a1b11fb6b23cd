/// The right to write the event stream, held by one process at a time; renewed by every
/// acquisition and checkpoint move, so a holder paused past its expiry cannot advance the
/// checkpoint after a takeover.
public enum EmitterLease {}
public typealias EmitterLeaseGrant = LeaseGrant<EmitterLease>
