/// Everything one verified callback writes, committed in one transaction before Tencent gets its
/// 200: its state change, if it carries one, and a job for each forward target it goes to.
public struct CallbackWrite: Sendable {
    public var change: StoreChange?
    public var forwards: [ForwardJob]

    public init(change: StoreChange?, forwards: [ForwardJob] = []) {
        self.change = change
        self.forwards = forwards
    }
}
