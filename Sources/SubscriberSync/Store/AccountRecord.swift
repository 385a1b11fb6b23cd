/// An account the store knows.
public struct AccountRecord: Sendable, Equatable {
    public var account: String
    /// The destruction tombstone (ms), when the account was destroyed.
    public var destroyedAt: Int64?
    /// The newest creation the store heard of (ms): a create callback, or an operator's revival.
    public var createdAt: Int64?

    public init(account: String, destroyedAt: Int64?, createdAt: Int64? = nil) {
        self.account = account
        self.destroyedAt = destroyedAt
        self.createdAt = createdAt
    }

    /// Live accounts are reconciled: never destroyed, or created again after the destruction.
    public var isLive: Bool {
        guard let destroyedAt else { return true }
        guard let createdAt else { return false }
        return createdAt > destroyedAt
    }

    /// What a creation at `time` makes of this record: the newest creation counts.
    public func created(at time: Int64) -> AccountRecord {
        var record = self
        record.createdAt = Swift.max(createdAt ?? time, time)
        return record
    }
}
