/// A pass's write found the reconciler's lease held by another process: this one paused past
/// the lease (a stopped process, a frozen host) and another pass has begun since. The pass
/// writes nothing more and fails, so two passes never change the store at once; its listing may
/// also be gone (PostgreSQL's next pass drops an unfinished pass's listing) and must not be
/// taken for complete.
public struct ReconcileLeaseLost: Error, CustomStringConvertible, Sendable {
    public init() {}

    public var description: String {
        "another process took the reconcile lease while this pass was paused; the pass stopped without further changes"
    }
}
