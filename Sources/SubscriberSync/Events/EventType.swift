/// The `type` attribute of every event this service emits.
public enum EventType: String, Sendable, CaseIterable {
    case subscribed = "subscriber.subscribed"
    case unsubscribed = "subscriber.unsubscribed"
    case updated = "subscriber.updated"
    case reconcileCompleted = "reconcile.completed"
    case reconcileFailed = "reconcile.failed"
    case reconcileHeld = "reconcile.held"

    /// Reverse-DNS prefix, so that a shared log pipeline can route on it.
    public static let prefix = "io.subscriber-sync."

    public var attribute: String { Self.prefix + rawValue }
}

/// What set a subscriber's state; `data.origin` in events and `origin` in `export`.
public enum ChangeOrigin: String, Sendable {
    case webhook
    case reconcile
    case accountDestroyed = "account_destroyed"
}
