/// A pass's write found the reconciler's lease held by another process: this one went a lease's
/// length without renewing it (a stopped process, a frozen host, a database it could not reach)
/// and another process has taken it since. The pass changes nothing more, so two passes never
/// change the store at once; on PostgreSQL its listing may also be gone (the next pass drops an
/// unfinished pass's listing) and must not be taken for complete. Only its failure is recorded.
public struct ReconcileLeaseLost: Error, CustomStringConvertible, Sendable {
    public init() {}

    public var description: String {
        "another process took the reconcile lease (this one could not renew it in time); the pass stopped without further changes"
    }
}
