/// Stops one pass from removing a large part of an account at once: a listing that silently
/// lost pages, or an account ID pointed at the wrong app, looks exactly like mass unsubscribing.
public struct RemovalGuard: Sendable, Equatable {
    public var maxRemovals: Int
    public var maxRemovalRatio: Double
    /// The ratio holds a pass only above this many removals: in an account of a few subscribers,
    /// one lost unsubscribe callback is already more than the ratio.
    public var removalRatioFloor: Int
    /// `reconcile --allow-mass-removal`: lifts the guard for one run (the two-listing rule stays).
    public var allowMassRemoval: Bool

    public init(maxRemovals: Int = 1000, maxRemovalRatio: Double = 0.1, removalRatioFloor: Int = 10, allowMassRemoval: Bool = false) {
        self.maxRemovals = maxRemovals
        self.maxRemovalRatio = maxRemovalRatio
        self.removalRatioFloor = removalRatioFloor
        self.allowMassRemoval = allowMassRemoval
    }

    /// Why the removals must be held, or nil when they may be applied.
    public func holdReason(removals: Int, subscribedAtStart: Int, listed: Int, storeHoldsSubscribers: Bool) -> String? {
        if allowMassRemoval { return nil }
        if listed == 0 && storeHoldsSubscribers {
            return "the listing is empty while the store holds subscribers"
        }
        if removals > maxRemovals {
            return "\(removals) removals exceed --max-removals \(maxRemovals)"
        }
        if removals > removalRatioFloor && Double(removals) > maxRemovalRatio * Double(subscribedAtStart) {
            return "\(removals) removals exceed --max-removal-ratio \(maxRemovalRatio) of \(subscribedAtStart) subscribed (and --removal-ratio-floor \(removalRatioFloor))"
        }
        return nil
    }
}
