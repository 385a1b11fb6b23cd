import Logging
import SubscriberSync
import Synchronization

/// A fake Tencent Cloud Chat REST API for Official Account subscribers, for tests, the demo and
/// `subscriber-sync simulator`.
///
/// It holds Official Accounts and their subscribers in memory and serves `get_subscriber_info` and
/// `get_official_account_info` (see `router()`), checking the URL's `sdkappid`, `identifier`,
/// `usersig`, `random` and `contenttype` as Tencent does, enforcing the per-second call limit
/// with 60007, paging with authenticated opaque cursors, and serving faults on demand. It can also
/// play the Chat console: `subscribe`/`unsubscribe` change the listing and post correctly signed
/// callbacks through a `CallbackSender`.
///
/// All state is behind one mutex; a page is built in O(log n + page) under it and encoded outside.
public final class TencentSimulator: Sendable {
    public let sdkAppID: UInt64
    public let adminIdentifier: String
    let secretKey: String
    let authenticator: AdminCallAuthenticator
    let clock: any WallClock
    let logger: Logger
    let cursors: CursorCodec
    let state: Mutex<SimulatorState>

    /// - Parameters:
    ///   - secretKey: the app's secret key; UserSigs must be HMACs under it.
    ///   - callsPerSecond: the REST call limit (Tencent documents 200 per second for these APIs),
    ///     shared by both commands.
    ///   - clock: wall clock for UserSig expiry, the rate window and default times.
    public init(sdkAppID: UInt64, adminIdentifier: String, secretKey: String, callsPerSecond: Int = 200,
                pagingMode: PagingMode = .keyset, clock: any WallClock = SystemWallClock(),
                logger: Logger = Logger(label: "tencent-simulator")) {
        self.sdkAppID = sdkAppID
        self.adminIdentifier = adminIdentifier
        self.secretKey = secretKey
        authenticator = AdminCallAuthenticator(sdkAppID: sdkAppID, adminIdentifier: adminIdentifier, secretKey: secretKey)
        self.clock = clock
        self.logger = logger
        self.cursors = CursorCodec()
        self.state = Mutex(SimulatorState(limit: callsPerSecond, pagingMode: pagingMode))
    }

    // MARK: Accounts and subscribers

    /// Creates the account, or updates its profile (subscribers are kept).
    public func createAccount(_ account: String, name: String? = nil, owner: String? = nil, createTime: Int64? = nil) {
        let now = clock.nowMilliseconds() / 1000
        state.withLock { state in
            state.withListing(account, creating: now, owner: adminIdentifier) { listing in
                if let name { listing.name = name }
                if let owner { listing.owner = owner }
                if let createTime { listing.createTime = createTime }
            }
        }
    }

    /// Replaces the account's subscribers (creating the account when missing). Missing fields are
    /// filled as Tencent would show them: SubscribeTime now, CustomString "", MsgFlag
    /// AcceptAndNotify, LastSendMsgTime 0. Duplicates: the last one wins.
    public func setSubscribers(account: String, _ subscribers: [SubscriberInfo]) {
        let now = clock.nowMilliseconds() / 1000
        let normalized = SubscriberListing.sortedUnique(subscribers.map { Self.normalize($0, now: now) })
        state.withLock { state in
            state.withListing(account, creating: now, owner: adminIdentifier) { $0.subscribers = normalized }
        }
    }

    /// Adds or replaces subscribers; returns the accounts that were not subscribed before.
    @discardableResult
    public func addSubscribers(account: String, _ subscribers: [SubscriberInfo]) -> [String] {
        let now = clock.nowMilliseconds() / 1000
        let normalized = subscribers.map { Self.normalize($0, now: now) }
        return state.withLock { state in
            state.withListing(account, creating: now, owner: adminIdentifier) { $0.merge(normalized) }
        }
    }

    /// Removes subscribers; returns those that were subscribed.
    @discardableResult
    public func removeSubscribers(account: String, _ subscribers: [String]) -> [String] {
        state.withLock { state in
            state.withExistingListing(account) { $0.remove(keys: subscribers) } ?? []
        }
    }

    /// Replaces one subscriber's fields; false when not subscribed.
    @discardableResult
    public func updateSubscriber(account: String, _ info: SubscriberInfo) -> Bool {
        updateSubscriber(account: account, subscriber: info.account) { $0 = info }
    }

    /// Changes one subscriber's fields in place (the account name cannot change); false when not
    /// subscribed.
    @discardableResult
    public func updateSubscriber(account: String, subscriber: String, _ change: (inout SubscriberInfo) -> Void) -> Bool {
        let now = clock.nowMilliseconds() / 1000
        return state.withLock { state in
            state.withExistingListing(account) { listing -> Bool in
                guard let index = listing.index(of: subscriber) else { return false }
                var info = listing.subscribers[index]
                change(&info)
                info.account = subscriber
                listing.subscribers[index] = Self.normalize(info, now: now)
                return true
            } ?? false
        }
    }

    /// The account's subscribers in listing order (sorted by `Subscriber_Account`); nil when the
    /// account does not exist.
    public func subscribers(of account: String) -> [SubscriberInfo]? {
        state.withLock { $0.accounts[account]?.subscribers }
    }

    public func subscriberCount(of account: String) -> Int? {
        state.withLock { $0.accounts[account]?.count }
    }

    /// The accounts, sorted.
    public var accounts: [String] {
        state.withLock { $0.accounts.keys.sorted() }
    }

    /// Removes the account and its subscribers; later calls naming it fail with `unknownAccount`.
    @discardableResult
    public func destroyAccount(_ account: String) -> Bool {
        state.withLock { state in
            state.churns[account] = nil
            return state.accounts.removeValue(forKey: account) != nil
        }
    }

    /// Adds `count` generated subscribers `prefix` + 8-digit index (from `startingAt`), with the
    /// deterministic fields of `seededSubscriber(prefix:index:)`. A million take well under a second
    /// in release builds.
    public func seed(account: String, count: Int, prefix: String = "user", startingAt start: Int = 0) {
        let generated = Self.seededSubscribers(prefix: prefix, range: start..<(start + max(0, count)))
        let now = clock.nowMilliseconds() / 1000
        state.withLock { state in
            state.withListing(account, creating: now, owner: adminIdentifier) { listing in
                _ = listing.merge(generated)
            }
        }
    }

    /// The subscriber `seed` generates at `index`: account `prefix` + index zero-padded to 8 digits,
    /// SubscribeTime 1,700,000,000 + index, MsgFlag cycling AcceptAndNotify / AcceptNotNotify /
    /// Discard, CustomString "" or "tier1"…"tier3", LastSendMsgTime 0 for every fifth, else
    /// SubscribeTime + index mod 86,400.
    public static func seededSubscriber(prefix: String, index: Int) -> SubscriberInfo {
        let subscribeTime = 1_700_000_000 + Int64(index)
        return SubscriberInfo(
            account: seededAccount(prefix: prefix, index: index),
            subscribeTime: subscribeTime,
            customString: customStrings[index % customStrings.count],
            msgFlag: msgFlags[index % msgFlags.count],
            lastSendMsgTime: index % 5 == 0 ? 0 : subscribeTime + Int64(index % 86_400)
        )
    }

    public static func seededAccount(prefix: String, index: Int) -> String {
        let digits = Array(String(index).utf8)
        let width = max(8, digits.count)
        let prefixBytes = Array(prefix.utf8)
        return String(unsafeUninitializedCapacity: prefixBytes.count + width) { buffer in
            var position = 0
            for byte in prefixBytes { buffer[position] = byte; position += 1 }
            for _ in 0..<(width - digits.count) { buffer[position] = UInt8(ascii: "0"); position += 1 }
            for byte in digits { buffer[position] = byte; position += 1 }
            return position
        }
    }

    public static let msgFlags = ["AcceptAndNotify", "AcceptNotNotify", "Discard"]
    static let customStrings = ["", "tier1", "tier2", "tier3"]

    static func seededSubscribers(prefix: String, range: Range<Int>) -> [SubscriberInfo] {
        var result: [SubscriberInfo] = []
        result.reserveCapacity(range.count)
        for index in range { result.append(seededSubscriber(prefix: prefix, index: index)) }
        return result
    }

    static func normalize(_ info: SubscriberInfo, now: Int64) -> SubscriberInfo {
        SubscriberInfo(account: info.account, subscribeTime: info.subscribeTime ?? now, customString: info.customString ?? "",
                       msgFlag: info.msgFlag ?? "AcceptAndNotify", lastSendMsgTime: info.lastSendMsgTime ?? 0)
    }

    // MARK: Behaviour

    /// The REST call limit per sliding second.
    public var callsPerSecond: Int {
        get { state.withLock { $0.window.limit } }
        set { state.withLock { $0.window.limit = newValue } }
    }

    /// How new cursors address the listing; cursors issued under the other mode are refused.
    public var pagingMode: PagingMode {
        get { state.withLock { $0.pagingMode } }
        set { state.withLock { $0.pagingMode = newValue } }
    }

    /// Whether `get_official_account_info` items carry `Official_Account` (not confirmed for
    /// Tencent; turn off to check that a client falls back to the request order).
    public var echoesOfficialAccount: Bool {
        get { state.withLock { $0.echoesOfficialAccount } }
        set { state.withLock { $0.echoesOfficialAccount = newValue } }
    }

    /// Called after every successful `get_subscriber_info` page, before it is answered, with the
    /// account and the page index (0 for the first page of a scan). It runs outside the lock, so it
    /// may change the listing (e.g. to add and remove subscribers while a scan is in progress).
    public var onPageServed: (@Sendable (_ account: String, _ pageIndex: Int) async -> Void)? {
        get { state.withLock { $0.onPageServed } }
        set { state.withLock { $0.onPageServed = newValue } }
    }

    /// Changes the account's listing after pages of a scan in progress (nil stops). With `notify`,
    /// each batch of changes is also posted as `CallbackAfterAddSubscriber` /
    /// `CallbackAfterDeleteSubscriber` before the page is answered, as the Chat console would.
    public func churn(account: String, _ churn: Churn?, notify: CallbackSender? = nil) {
        state.withLock { $0.churns[account] = churn.map { ChurnPlan(churn: $0, notify: notify) } }
    }

    /// Every change made by churn so far.
    public var churnLog: [ChurnChange] {
        state.withLock { $0.churnLog }
    }

    // MARK: Faults

    /// Serves `fault` to the next `times` calls (of `api`, or of any command) that pass
    /// authentication and the rate limiter. Faults queue up in order.
    public func inject(_ fault: Fault, times: Int = 1, on api: API? = nil) {
        guard times > 0 else { return }
        state.withLock { $0.faults.entries.append(.init(fault: fault, remaining: times, api: api)) }
    }

    /// Faults still queued (sum of remaining times).
    public var pendingFaults: Int {
        state.withLock { $0.faults.entries.reduce(0) { $0 + $1.remaining } }
    }

    public func clearFaults() {
        state.withLock { $0.faults.entries.removeAll() }
    }

    /// Besides queued faults, serves a fault drawn from `kinds` to each accepted call with this
    /// probability (0 turns it off).
    public func setRandomFaults(rate: Double, among kinds: [Fault] = Fault.transient) {
        state.withLock {
            $0.faults.randomRate = min(1, max(0, rate))
            $0.faults.randomKinds = kinds
        }
    }

    // MARK: Inspection

    public var stats: Stats {
        state.withLock { state in
            var stats = state.stats
            stats.maxCallsInOneSecond = state.window.maxInWindow
            return stats
        }
    }

    /// Times (Unix ms, ascending) of every accepted call, the most recent `callLogLimit`.
    public var callLog: [Int64] {
        state.withLock { $0.callLog }
    }

    public static let callLogLimit = 2_000_000

    /// The most accepted calls in any sliding window of this length, from `callLog`.
    public func maxCalls(inAnyWindowOf milliseconds: Int64) -> Int {
        RateWindow.maxInAnyWindow(callLog, windowMilliseconds: milliseconds)
    }

    /// Clears stats, the call log and the churn log (not the listing, faults or settings).
    public func resetStats() {
        state.withLock { state in
            state.stats = Stats()
            state.callLog.removeAll()
            state.churnLog.removeAll()
            state.window.resetMaximum()
        }
    }

    /// A UserSig for `identifier` (default: the admin) made with this app's key at the simulator's
    /// clock, as a client would make it.
    public func makeUserSig(identifier: String? = nil, expire: Int64 = 86_400) throws -> String {
        try UserSig.make(key: secretKey, sdkAppID: sdkAppID, identifier: identifier ?? adminIdentifier,
                         expire: expire, now: clock.nowMilliseconds() / 1000)
    }
}

struct ChurnPlan: Sendable {
    var churn: TencentSimulator.Churn
    var notify: CallbackSender?
}

/// Everything mutable, behind the simulator's mutex.
struct SimulatorState: Sendable {
    var accounts: [String: SubscriberListing] = [:]
    var window: RateWindow
    var faults = FaultQueue()
    var stats = TencentSimulator.Stats()
    var callLog: [Int64] = []
    var pagingMode: TencentSimulator.PagingMode
    var echoesOfficialAccount = true
    var onPageServed: (@Sendable (String, Int) async -> Void)?
    var churns: [String: ChurnPlan] = [:]
    var churnLog: [TencentSimulator.ChurnChange] = []
    var churnCounter = 0
    var random = SplitMix64(state: 0x5EED_0F_C4A7)

    init(limit: Int, pagingMode: TencentSimulator.PagingMode) {
        window = RateWindow(limit: limit)
        self.pagingMode = pagingMode
    }

    /// Mutates the listing in place (taken out of the dictionary so that it is never copied).
    mutating func withListing<R>(_ account: String, creating now: Int64, owner: String, _ body: (inout SubscriberListing) -> R) -> R {
        var listing = accounts.removeValue(forKey: account) ?? SubscriberListing(name: account, owner: owner, createTime: now)
        defer { accounts[account] = listing }
        return body(&listing)
    }

    mutating func withExistingListing<R>(_ account: String, _ body: (inout SubscriberListing) -> R) -> R? {
        guard var listing = accounts.removeValue(forKey: account) else { return nil }
        defer { accounts[account] = listing }
        return body(&listing)
    }

    mutating func recordError(_ code: Int) {
        stats.errorCodes[code, default: 0] += 1
    }

    enum Admission {
        case limited
        case accepted(TencentSimulator.Fault?)
    }

    /// The rate limiter, then the fault queue.
    mutating func admit(_ api: TencentSimulator.API, now: Int64) -> Admission {
        guard window.admit(at: now) else {
            stats.rateLimitedCalls += 1
            recordError(TencentSimulator.ErrorCode.rateLimited)
            return .limited
        }
        stats.acceptedCalls += 1
        stats.calls[api, default: 0] += 1
        callLog.append(now)
        if callLog.count > TencentSimulator.callLogLimit { callLog.removeFirst(callLog.count / 2) }
        let fault = faults.next(for: api)
        if let fault {
            stats.faultsServed += 1
            if case .errorCode(let code, _) = fault { recordError(code) }
        }
        return .accepted(fault)
    }
}
