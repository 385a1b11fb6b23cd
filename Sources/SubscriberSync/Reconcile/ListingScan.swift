import GRDB

/// Pages through `get_subscriber_info` into the staging table. The next page is fetched while the
/// previous one is stored, and nothing but staging is written, so a scan that fails part-way
/// leaves the store untouched.
struct ListingScan {
    let client: TencentClient
    let database: any DatabaseWriter
    let clock: any WallClock
    /// Checked at every page boundary (SIGTERM).
    let isInterrupted: @Sendable () -> Bool

    struct Failure: Error {
        var reason: String
    }

    /// Fills staging for `scan`; updates `report`'s pages, listed and subscriberNum. Throws
    /// `Failure` when the listing is incomplete.
    func run(account: String, scan: Int64, report: inout ReconcileReport) async throws {
        var next = ""
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
            pendingStore = pages.isEmpty ? nil : Task { [database] in
                try await database.write { db in
                    for (page, requestedAt) in pages {
                        try Self.stage(page.subscribers, scan: scan, requestedAt: requestedAt, in: db)
                    }
                }
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
            guard cursor != next else {
                throw Failure(reason: "page \(report.pages) returned the same Next cursor again")
            }
            next = cursor
        }
        try await flush()
        try await pendingStore?.value
        pendingStore = nil
    }

    /// Staged rows per write transaction (a few pages; bounded memory).
    static let rowsPerWrite = 2000

    /// A subscriber listed twice (the account churned between pages) keeps the latest entry.
    static func stage(_ subscribers: [SubscriberInfo], scan: Int64, requestedAt: Int64, in db: Database) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO staging (scan, subscriber, requested_at, subscribe_time, custom_string, msg_flag, last_send_msg_time)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for subscriber in subscribers where !subscriber.account.isEmpty {
            try statement.execute(arguments: [scan, subscriber.account, requestedAt, subscriber.subscribeTime, subscriber.customString,
                                              subscriber.msgFlag, subscriber.lastSendMsgTime])
        }
    }
}
