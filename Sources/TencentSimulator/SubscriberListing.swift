import SubscriberSync

/// One Official Account: its profile and its subscribers, kept sorted by `Subscriber_Account`
/// (unique). A page is a binary search plus a slice, so paging costs O(log n + page) whatever the
/// size; single changes cost a memmove; bulk changes merge in O(n + k log k).
struct SubscriberListing: Sendable {
    var name: String
    var owner: String
    /// Unix seconds.
    var createTime: Int64
    var subscribers: [SubscriberInfo] = []

    var count: Int { subscribers.count }

    /// First index whose account is ≥ `key`.
    func lowerBound(_ key: String) -> Int {
        var low = 0, high = subscribers.count
        while low < high {
            let middle = (low + high) / 2
            if subscribers[middle].account < key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// First index whose account is > `key`.
    func upperBound(_ key: String) -> Int {
        var low = 0, high = subscribers.count
        while low < high {
            let middle = (low + high) / 2
            if key < subscribers[middle].account { high = middle } else { low = middle + 1 }
        }
        return low
    }

    func index(of key: String) -> Int? {
        let index = lowerBound(key)
        return index < subscribers.count && subscribers[index].account == key ? index : nil
    }

    /// Inserts or replaces; true when the subscriber is new.
    @discardableResult
    mutating func upsert(_ info: SubscriberInfo) -> Bool {
        let index = lowerBound(info.account)
        if index < subscribers.count && subscribers[index].account == info.account {
            subscribers[index] = info
            return false
        }
        subscribers.insert(info, at: index)
        return true
    }

    @discardableResult
    mutating func remove(_ key: String) -> SubscriberInfo? {
        guard let index = index(of: key) else { return nil }
        return subscribers.remove(at: index)
    }

    /// Adds or replaces many; returns the accounts that are new.
    mutating func merge(_ incoming: [SubscriberInfo]) -> [String] {
        let incoming = Self.sortedUnique(incoming)
        if incoming.isEmpty { return [] }
        if subscribers.isEmpty {
            subscribers = incoming
            return incoming.map(\.account)
        }
        if incoming.count <= 64 {
            return incoming.compactMap { upsert($0) ? $0.account : nil }
        }
        var merged: [SubscriberInfo] = []
        merged.reserveCapacity(subscribers.count + incoming.count)
        var added: [String] = []
        var i = 0, j = 0
        while i < subscribers.count && j < incoming.count {
            let left = subscribers[i].account, right = incoming[j].account
            if left < right { merged.append(subscribers[i]); i += 1 }
            else if right < left { merged.append(incoming[j]); added.append(right); j += 1 }
            else { merged.append(incoming[j]); i += 1; j += 1 }
        }
        merged.append(contentsOf: subscribers[i...])
        for info in incoming[j...] { merged.append(info); added.append(info.account) }
        subscribers = merged
        return added
    }

    /// Removes many; returns the accounts that were present.
    mutating func remove(keys: [String]) -> [String] {
        if keys.count <= 64 {
            return keys.compactMap { remove($0)?.account }
        }
        let doomed = Set(keys)
        var removed: [String] = []
        subscribers.removeAll { info in
            guard doomed.contains(info.account) else { return false }
            removed.append(info.account)
            return true
        }
        return removed
    }

    /// Sorted by account, one entry per account (the last one given wins). O(n) when already sorted.
    static func sortedUnique(_ infos: [SubscriberInfo]) -> [SubscriberInfo] {
        var isStrictlySorted = true
        if infos.count > 1 {
            for index in 1..<infos.count where !(infos[index - 1].account < infos[index].account) {
                isStrictlySorted = false
                break
            }
        }
        if isStrictlySorted { return infos }
        // Stable by original position so that "last wins" holds for duplicates.
        let order = infos.indices.sorted { a, b in
            infos[a].account < infos[b].account || (infos[a].account == infos[b].account && a < b)
        }
        var result: [SubscriberInfo] = []
        result.reserveCapacity(infos.count)
        for index in order {
            if let last = result.last, last.account == infos[index].account { result[result.count - 1] = infos[index] }
            else { result.append(infos[index]) }
        }
        return result
    }
}
