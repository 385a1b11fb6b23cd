/// The durable forward queue as the forwarder sees it; the storage engines implement it beside
/// the subscriber tables (jobs are written in the callbacks' own transactions).
///
/// One forwarder delivers at a time across every process on a store: the holder of the
/// forwarder lease. Every change a holder makes names its lease (holder and epoch) in the same
/// statement, so a holder that lost the lease changes nothing and another replica's deliveries
/// stay in order.
public protocol ForwardQueue: Sendable {
    /// Takes or renews the forwarder lease for `holder`; nil while another holds it.
    func acquireForwarderLease(holder: String, durationMilliseconds: Int64) async throws -> ForwarderLeaseGrant?

    func releaseForwarderLease(_ lease: ForwarderLeaseGrant) async throws

    /// Up to `limit` undelivered, live jobs of `target`, in the order they must be delivered.
    /// Only jobs whose transaction has certainly committed, so that no earlier job appears later.
    func nextForwards(target: String, limit: Int) async throws -> [ForwardJob]

    /// Removes delivered jobs; false (and nothing removed) when `lease` was lost.
    func completeForwards(_ ids: [Int64], for lease: ForwarderLeaseGrant) async throws -> Bool

    /// Records a failed delivery of job `id` and when to try it again; false when `lease` was lost.
    func postponeForward(_ id: Int64, attempts: Int, nextAttemptAt: Int64, error: String,
                         for lease: ForwarderLeaseGrant) async throws -> Bool

    /// Dead-letters the live jobs of `target` received before `receivedBefore` (kept, no longer
    /// delivered). Returns how many; nil (and nothing changed) when `lease` was lost.
    func deadLetterForwards(target: String, receivedBefore: Int64, at deadAt: Int64, error: String,
                            for lease: ForwarderLeaseGrant) async throws -> Int?

    /// Queues dead jobs again (of `target` only, when given), in their original order. Returns how many.
    func retryDeadForwards(target: String?) async throws -> Int

    /// Deletes dead jobs (of `target` only, when given): an operator accepts their loss. Returns how many.
    func dropDeadForwards(target: String?) async throws -> Int

    /// Every target with jobs: live and dead counts, the oldest live job and the head's state.
    func forwardTargets() async throws -> [ForwardTargetSummary]
}

/// The forwarder's lease, like the emitter's (see `LeaseGrant`).
public enum ForwarderLease {}
public typealias ForwarderLeaseGrant = LeaseGrant<ForwarderLease>

/// One target's part of the queue, for `forwards`, metrics and the forwarder's schedule.
public struct ForwardTargetSummary: Sendable, Equatable {
    public var target: String
    public var pending: Int
    public var dead: Int
    /// Receipt time of the oldest undelivered live job.
    public var oldestPendingAt: Int64?
    /// The next job's failed attempts, when it to be tried again, and its last error.
    public var headAttempts: Int
    public var headNextAttemptAt: Int64?
    public var headLastError: String?

    public init(target: String, pending: Int, dead: Int, oldestPendingAt: Int64?, headAttempts: Int = 0,
                headNextAttemptAt: Int64? = nil, headLastError: String? = nil) {
        self.target = target
        self.pending = pending
        self.dead = dead
        self.oldestPendingAt = oldestPendingAt
        self.headAttempts = headAttempts
        self.headNextAttemptAt = headNextAttemptAt
        self.headLastError = headLastError
    }
}

extension ForwardTargetSummary {
    /// The columns of the `forwards` table, in order.
    public static let columns = ["TARGET", "PENDING", "DEAD", "OLDEST PENDING", "ATTEMPTS", "NEXT TRY", "LAST ERROR"]

    /// This target's cells of the `forwards` table; the target without credentials.
    public var cells: [String] {
        func time(_ milliseconds: Int64?) -> String { milliseconds.map { Timestamps.rfc3339(milliseconds: $0) } ?? "-" }
        let nextTry = pending == 0 ? "-" : (headNextAttemptAt ?? 0) == 0 ? "now" : time(headNextAttemptAt)
        return [ForwardRule.displayName(target), String(pending), String(dead), time(oldestPendingAt), String(headAttempts), nextTry,
                headLastError ?? "-"]
    }

    /// One line of `forwards --json`.
    public func jsonLine() -> [UInt8] {
        var line = JSONObjectWriter()
        line.string("target", ForwardRule.displayName(target))
        line.int("pending", Int64(pending))
        line.int("dead", Int64(dead))
        line.string("oldestPending", orNull: oldestPendingAt.map { Timestamps.rfc3339(milliseconds: $0) })
        line.int("attempts", Int64(headAttempts))
        // null: nothing pending, or due now.
        let due = headNextAttemptAt ?? 0
        line.string("nextTry", orNull: pending == 0 || due == 0 ? nil : Timestamps.rfc3339(milliseconds: due))
        line.string("lastError", orNull: headLastError)
        return line.finished() + [UInt8(ascii: "\n")]
    }

    /// Whether `--target NAME` names this target: its URL as configured, or as listed.
    public func isNamed(_ name: String) -> Bool {
        name == target || name == ForwardRule.displayName(target)
    }
}
