import SubscriberSync

/// One `get_subscriber_info` page as cut under the lock; encoded after it is released.
struct PageCut: Sendable {
    var subscribers: [SubscriberInfo]
    /// Index just past the page in the listing when it was cut.
    var end: Int
    var total: Int
    var next: CursorCodec.Cursor?
    var pageIndex: Int
    var churn: [TencentSimulator.ChurnChange]
    var notify: CallbackSender?
    var hook: (@Sendable (String, Int) async -> Void)?
}

extension SimulatorState {
    enum PageOutcome {
        case refused(Int, String)
        case page(PageCut)
    }

    /// A binary search and a slice: O(log n + limit). Churn, when planned, runs after the cut.
    mutating func cutPage(account: String, limit: Int, cursor: CursorCodec.Cursor?, now: Int64) -> PageOutcome {
        let mode = pagingMode
        let cut: PageCut? = withExistingListing(account) { listing -> PageCut? in
            let start: Int
            switch (cursor?.position, mode) {
            case (nil, _): start = 0
            case (.after(let key)?, .keyset): start = listing.upperBound(key)
            case (.offset(let offset)?, .offset): start = min(offset, listing.count)
            default: return nil
            }
            let end = min(start + limit, listing.count)
            // A copy, O(page): a slice would share the listing's storage and make the next change
            // to the listing copy all of it.
            let page = Array(listing.subscribers[start..<end])
            let pageIndex = cursor?.page ?? 0
            var next: CursorCodec.Cursor?
            if end < listing.count {
                let position: CursorCodec.Position = mode == .keyset ? .after(listing.subscribers[end - 1].account) : .offset(end)
                next = CursorCodec.Cursor(account: account, position: position, page: pageIndex + 1)
            }
            return PageCut(subscribers: page, end: end, total: listing.count, next: next, pageIndex: pageIndex, churn: [], notify: nil, hook: nil)
        } ?? nil
        guard accounts[account] != nil else {
            return .refused(TencentSimulator.ErrorCode.unknownAccount, "Official_Account \(account) does not exist")
        }
        guard var cut else {
            return .refused(TencentSimulator.ErrorCode.invalidParameter, "Next was issued under another paging mode")
        }
        stats.pagesServed += 1
        cut.hook = onPageServed
        if cut.next != nil, let plan = churns[account], (cut.pageIndex + 1) % plan.churn.everyPages == 0 {
            cut.churn = applyChurn(plan.churn, account: account, servedEnd: cut.end,
                                   lastServed: cut.subscribers.last?.account ?? "", pageIndex: cut.pageIndex, now: now)
            cut.notify = plan.notify
        }
        return .page(cut)
    }

    /// Removes and adds subscribers behind and ahead of the position a page ended at.
    mutating func applyChurn(_ churn: TencentSimulator.Churn, account: String, servedEnd: Int, lastServed: String, pageIndex: Int, now: Int64) -> [TencentSimulator.ChurnChange] {
        var random = self.random
        var counter = churnCounter
        let changes = withExistingListing(account) { listing -> [TencentSimulator.ChurnChange] in
            var changes: [TencentSimulator.ChurnChange] = []
            var end = servedEnd
            func record(_ kind: TencentSimulator.ChurnChange.Kind, _ subscriber: String, behind: Bool) {
                changes.append(.init(kind: kind, account: account, subscriber: subscriber, behindCursor: behind, afterPage: pageIndex))
            }
            for _ in 0..<churn.removeBehind where end > 0 {
                let removed = listing.subscribers.remove(at: Int.random(in: 0..<end, using: &random))
                end -= 1
                record(.removed, removed.account, behind: true)
            }
            for _ in 0..<churn.removeAhead where end < listing.count {
                let removed = listing.subscribers.remove(at: Int.random(in: end..<listing.count, using: &random))
                record(.removed, removed.account, behind: false)
            }
            // A new account sorts right after an existing one: `<existing>-churn<n>`, kept only
            // when it also sorts before that one's successor (true for any sane naming).
            func candidate(after index: Int) -> String? {
                counter += 1
                let name = listing.subscribers[index].account + "-churn\(counter)"
                if index + 1 < listing.count && !(name < listing.subscribers[index + 1].account) { return nil }
                return name
            }
            let now = now / 1000
            for _ in 0..<churn.addBehind where end >= 2 {
                // Insert between two served subscribers, so the new one sorts before the cursor.
                for _ in 0..<8 {
                    let index = Int.random(in: 0..<(end - 1), using: &random)
                    guard let name = candidate(after: index) else { continue }
                    listing.subscribers.insert(SubscriberInfo(account: name, subscribeTime: now, customString: "", msgFlag: "AcceptAndNotify", lastSendMsgTime: 0), at: index + 1)
                    end += 1
                    record(.added, name, behind: true)
                    break
                }
            }
            for _ in 0..<churn.addAhead {
                for _ in 0..<8 {
                    let name: String
                    let position: Int
                    if end < listing.count {
                        let index = Int.random(in: end..<listing.count, using: &random)
                        guard let made = candidate(after: index) else { continue }
                        name = made
                        position = index + 1
                    } else {
                        counter += 1
                        name = lastServed + "-churn\(counter)"
                        guard listing.subscribers.last.map({ $0.account < name }) ?? true else { continue }
                        position = listing.count
                    }
                    listing.subscribers.insert(SubscriberInfo(account: name, subscribeTime: now, customString: "", msgFlag: "AcceptAndNotify", lastSendMsgTime: 0), at: position)
                    record(.added, name, behind: false)
                    break
                }
            }
            return changes
        } ?? []
        self.random = random
        churnCounter = counter
        churnLog.append(contentsOf: changes)
        return changes
    }
}
