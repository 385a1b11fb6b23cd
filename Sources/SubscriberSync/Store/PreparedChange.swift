/// A change with the `data` of its events rendered in advance, so that an engine's writer does not
/// spend its time on JSON: for each subscriber of a subscribe or unsubscribe, the data of an event
/// about a subscriber whose fields are unknown, which is what callbacks know.
struct PreparedChange: Sendable {
    let change: StoreChange?
    let dataWithoutFields: [[UInt8]]
    /// Jobs to commit beside the change (see `CallbackWrite`).
    let forwards: [ForwardJob]

    init(_ change: StoreChange) {
        self.init(CallbackWrite(change: change))
    }

    init(_ write: CallbackWrite) {
        change = write.change
        forwards = write.forwards
        switch write.change {
        case .subscribers(let facts):
            dataWithoutFields = facts.subscribers.map { subscriber in
                ChangeEvent.subscriberData(account: facts.account, subscriber: subscriber, origin: facts.origin,
                                           operatorAccount: facts.operatorAccount, fields: .unknown)
            }
        case .accountDestroyed, .accountCreated, nil:
            dataWithoutFields = []
        }
    }
}
