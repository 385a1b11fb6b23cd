import SubscriberSync

/// Playing the Chat console: change the listing the way a user or an admin would, and tell the
/// service through a signed callback, as Tencent does after the fact.
extension TencentSimulator {
    /// Subscribes `users` (those not yet subscribed) with SubscribeTime = eventTime / 1000, then,
    /// with `notify`, posts `OfficialAccount.CallbackAfterAddSubscriber` listing them. Creates the
    /// account when missing. Returns the POSTs made (none when nothing changed, or when the sender
    /// drops or holds the callback).
    @discardableResult
    public func subscribe(account: String, users: [String], eventTime: Int64? = nil, operator operatorAccount: String? = nil,
                          notify: CallbackSender? = nil, mode: CallbackSender.Mode? = nil) async throws -> [CallbackSender.Delivery] {
        let eventTime = eventTime ?? clock.nowMilliseconds()
        let seconds = eventTime / 1000
        let fresh = users.map { SubscriberInfo(account: $0, subscribeTime: seconds, customString: "", msgFlag: "AcceptAndNotify", lastSendMsgTime: 0) }
        let added: [String] = state.withLock { state in
            state.withListing(account, creating: seconds, owner: adminIdentifier) { listing in
                fresh.compactMap { info in listing.index(of: info.account) == nil && listing.upsert(info) ? info.account : nil }
            }
        }
        guard let notify, !added.isEmpty else { return [] }
        return try await notify.subscribersAdded(account: account, subscribers: added, operator: operatorAccount ?? adminIdentifier,
                                                 eventTime: eventTime, mode: mode)
    }

    /// Unsubscribes `users` (those subscribed), then, with `notify`, posts
    /// `OfficialAccount.CallbackAfterDeleteSubscriber` listing them.
    @discardableResult
    public func unsubscribe(account: String, users: [String], eventTime: Int64? = nil, operator operatorAccount: String? = nil,
                            notify: CallbackSender? = nil, mode: CallbackSender.Mode? = nil) async throws -> [CallbackSender.Delivery] {
        let eventTime = eventTime ?? clock.nowMilliseconds()
        let removed = removeSubscribers(account: account, users)
        guard let notify, !removed.isEmpty else { return [] }
        return try await notify.subscribersDeleted(account: account, subscribers: removed, operator: operatorAccount ?? adminIdentifier,
                                                   eventTime: eventTime, mode: mode)
    }

    /// Destroys the account, then, with `notify`, posts `OfficialAccount.CallbackAfterOfficialAccountDestroyed`.
    @discardableResult
    public func destroy(account: String, eventTime: Int64? = nil, notify: CallbackSender? = nil,
                        mode: CallbackSender.Mode? = nil) async throws -> [CallbackSender.Delivery] {
        let eventTime = eventTime ?? clock.nowMilliseconds()
        let profile = state.withLock { state -> (String, String)? in
            state.churns[account] = nil
            return state.accounts.removeValue(forKey: account).map { ($0.name, $0.owner) }
        }
        guard let notify, let (name, owner) = profile else { return [] }
        return try await notify.accountDestroyed(account: account, owner: owner, name: name, eventTime: eventTime, mode: mode)
    }
}
