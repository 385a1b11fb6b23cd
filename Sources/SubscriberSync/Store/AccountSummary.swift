/// One account as `subscriber-sync accounts` shows it.
public struct AccountSummary: Sendable, Equatable {
    /// The latest reconcile pass over the account.
    public struct LastPass: Sendable, Equatable {
        /// `completed`, `held` or `failed`; nil while the pass runs (or when its process died).
        public var outcome: String?
        public var startedAt: Int64
        public var finishedAt: Int64?

        public init(outcome: String?, startedAt: Int64, finishedAt: Int64?) {
            self.outcome = outcome
            self.startedAt = startedAt
            self.finishedAt = finishedAt
        }
    }

    public var record: AccountRecord
    /// When the store first heard of the account (ms).
    public var firstSeen: Int64
    public var subscribed: Int
    /// Unsubscribed rows kept so that an older, late subscribe stays out.
    public var tombstones: Int
    public var lastPass: LastPass?
    /// Still subscribed but missing from the latest complete listing: removed once a second
    /// listing misses them too, unless a guard holds the pass.
    public var removalCandidates: Int
    /// Of those, missing from two listings in a row: removals the guard is holding.
    public var removable: Int

    public init(record: AccountRecord, firstSeen: Int64, subscribed: Int, tombstones: Int, lastPass: LastPass?,
                removalCandidates: Int, removable: Int) {
        self.record = record
        self.firstSeen = firstSeen
        self.subscribed = subscribed
        self.tombstones = tombstones
        self.lastPass = lastPass
        self.removalCandidates = removalCandidates
        self.removable = removable
    }
}

extension AccountSummary {
    public var state: String { record.isLive ? "live" : "destroyed" }

    /// One line of `accounts --json`; times in RFC 3339, null when unknown.
    public func jsonLine() -> [UInt8] {
        func time(_ milliseconds: Int64?) -> String? { milliseconds.map { Timestamps.rfc3339(milliseconds: $0) } }
        var line = JSONObjectWriter()
        line.string("officialAccount", record.account)
        line.string("state", state)
        line.string("destroyedAt", orNull: time(record.destroyedAt))
        line.string("createdAt", orNull: time(record.createdAt))
        line.string("firstSeen", orNull: time(firstSeen))
        line.int("subscribed", Int64(subscribed))
        line.int("tombstones", Int64(tombstones))
        if let lastPass {
            line.object("lastPass") { pass in
                pass.string("outcome", orNull: lastPass.outcome)
                pass.string("startedAt", orNull: time(lastPass.startedAt))
                pass.string("finishedAt", orNull: time(lastPass.finishedAt))
            }
        } else {
            line.null("lastPass")
        }
        line.int("removalCandidates", Int64(removalCandidates))
        line.int("heldRemovals", Int64(removable))
        var bytes = line.finished()
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// The columns of the `accounts` table, in order.
    public static let columns = ["ACCOUNT", "STATE", "SUBSCRIBED", "TOMBSTONES", "LAST PASS", "CANDIDATES", "HELD", "DESTROYED", "CREATED"]

    /// This account's cells of the `accounts` table.
    public var cells: [String] {
        func time(_ milliseconds: Int64?) -> String { milliseconds.map { Timestamps.rfc3339(milliseconds: $0) } ?? "-" }
        let pass = lastPass.map { "\($0.outcome ?? "unfinished") \(time($0.finishedAt ?? $0.startedAt))" } ?? "never"
        return [record.account, state, String(subscribed), String(tombstones), pass, String(removalCandidates), String(removable),
                time(record.destroyedAt), time(record.createdAt)]
    }
}
