/// An account the store knows.
public struct AccountRecord: Sendable, Equatable {
    public var account: String
    /// The destruction tombstone (ms), when the account was destroyed.
    public var destroyedAt: Int64?

    public init(account: String, destroyedAt: Int64?) {
        self.account = account
        self.destroyedAt = destroyedAt
    }
}
