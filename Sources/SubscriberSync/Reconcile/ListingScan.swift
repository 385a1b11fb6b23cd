/// Pages through `get_subscriber_info` into the pass's listing in the store. The next page is
/// fetched while the previous one is stored, and nothing but the listing is written, so a scan
/// that fails part-way leaves the store untouched. Each entry carries the `subscriber.subscribed`
/// event it would become, rendered while the scan waits on Tencent's pace, so that adding a
/// million subscribers at the end is a copy.
struct ListingScan {
    let client: TencentClient
    let storage: any SubscriberStorage
    let pass: ListingPass
    let clock: any WallClock
    /// Checked at every page boundary (SIGTERM).
    let isInterrupted: @Sendable () -> Bool

    struct Failure: Error {
        var reason: String
    }

    /// Fills the listing table; updates `report`'s pages, listed and subscriberNum. Throws
    /// `Failure` when the listing is incomplete.
    func run(report: inout ReconcileReport) async throws {
        let account = pass.account
        var next = ""
        var seenCursors: Set<String> = []
        var buffered: [(page: SubscriberPage, requestedAt: Int64)] = []
        var bufferedRows = 0
        var pendingStore: Task<Void, any Error>?
        defer { pendingStore?.cancel() }
        // Pages are written in groups: one transaction (and one fsync) per page would make the
        // store, not Tencent's pace, the limit of a scan.
        func flush() async throws {
            try await pendingStore?.value
            let pages = buffered
            buffered = []
            bufferedRows = 0
            pendingStore = pages.isEmpty ? nil : Task { [storage, pass] in
                let entries = pages.flatMap { Self.entries($0.page.subscribers, account: account, requestedAt: $0.requestedAt) }
                try await storage.stage(entries, in: pass)
            }
        }
        while true {
            if isInterrupted() { throw Failure(reason: "interrupted at a page boundary (shutdown)") }
            let requestedAt = clock.nowMilliseconds()
            let page: SubscriberPage
            do {
                page = try await client.getSubscriberInfo(GetSubscriberInfoRequest(officialAccount: account, next: next))
            } catch {
                throw Failure(reason: "page \(report.pages + 1): \(error.message)")
            }
            buffered.append((page, requestedAt))
            bufferedRows += page.subscribers.count
            if bufferedRows >= Self.rowsPerWrite { try await flush() }
            report.pages += 1
            report.listed += page.subscribers.count
            report.subscriberNum = page.subscriberNum ?? report.subscriberNum
            guard let cursor = page.next else {
                throw Failure(reason: "page \(report.pages) has no Next field; cannot tell whether the listing is complete")
            }
            if cursor.isEmpty { break }
            guard seenCursors.insert(cursor).inserted else {
                throw Failure(reason: "page \(report.pages) returned a Next cursor seen before in this scan (a cycle)")
            }
            next = cursor
        }
        try await flush()
        try await pendingStore?.value
        pendingStore = nil
    }

    /// Staged rows per write transaction (a few pages; bounded memory).
    static let rowsPerWrite = 2000

    /// The listing entries of a page. Entries with an ID the callback path would refuse are left out.
    static func entries(_ subscribers: [SubscriberInfo], account: String, requestedAt: Int64) -> [ListedSubscriber] {
        subscribers.compactMap { subscriber in
            guard TencentIdentifier.isValid(subscriber.account) else { return nil }
            let fields = SubscriberFields(subscribeTime: subscriber.subscribeTime, msgFlag: subscriber.msgFlag,
                                          customString: subscriber.customString, lastSendMsgTime: subscriber.lastSendMsgTime)
            let event = ChangeEvent.subscriber(.subscribed, account: account, subscriber: subscriber.account, time: requestedAt,
                                               origin: .reconcile, operatorAccount: nil, fields: fields)
            return ListedSubscriber(subscriber: subscriber.account, requestedAt: requestedAt, fields: fields,
                                    eventID: EventIDGenerator.shared.next(), eventData: event.data)
        }
    }
}
