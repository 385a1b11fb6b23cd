/// The reconciler's lease: while a process holds it, no other process on the same store runs a
/// pass, so passes never overlap and their REST calls stay within one `--api-rate-limit`
/// (Tencent's 200 calls/s is per app, whatever the number of replicas). It also remembers when
/// the last run started, so that replicas share one schedule.
public enum ReconcileLease {}
public typealias ReconcileLeaseGrant = LeaseGrant<ReconcileLease>
