import GRDB

/// Pages through `get_subscriber_info` into the listing table. The next page is fetched while the
/// previous one is stored, and nothing but the listing table is written, so a scan that fails
/// part-way leaves the store untouched.
///
/// The listing table is a TEMP table of the writer connection: nothing else needs to see it, it
/// needs no durability (a crash abandons the scan), and writing it costs no WAL traffic or fsync.
/// Each row carries the `subscriber.subscribed` event it would become, rendered while the scan
/// waits on Tencent's pace, so that adding a million subscribers at the end is a copy.
struct ListingScan {
    let client: TencentClient
    let database: any DatabaseWriter
    let clock: any WallClock
    /// Checked at every page boundary (SIGTERM).
    let isInterrupted: @Sendable () -> Bool

    struct Failure: Error {
        var reason: String
    }

    /// Fills the listing table; updates `report`'s pages, listed and subscriberNum. Throws
    /// `Failure` when the listing is incomplete.
    func run(account: String, report: inout ReconcileReport) async throws {
        try await database.write { try Self.createTable(in: $0) }
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
            pendingStore = pages.isEmpty ? nil : Task { [database] in
                try await database.write { db in
                    for (page, requestedAt) in pages {
                        try Self.stage(page.subscribers, account: account, requestedAt: requestedAt, in: db)
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

    static func createTable(in db: Database) throws {
        try db.execute(sql: """
            DROP TABLE IF EXISTS temp.listing;
            CREATE TEMP TABLE listing (
                subscriber TEXT NOT NULL PRIMARY KEY,
                requested_at INTEGER NOT NULL,
                subscribe_time INTEGER,
                custom_string TEXT,
                msg_flag TEXT,
                last_send_msg_time INTEGER,
                event_id TEXT NOT NULL,
                event_data TEXT NOT NULL
            ) WITHOUT ROWID;
            """)
    }

    static func dropTable(in db: Database) throws {
        try db.execute(sql: "DROP TABLE IF EXISTS temp.listing")
    }

    /// A subscriber listed twice (the account churned between pages) keeps the latest entry.
    /// Entries with an ID the callback path would refuse are left out.
    static func stage(_ subscribers: [SubscriberInfo], account: String, requestedAt: Int64, in db: Database) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO temp.listing (subscriber, requested_at, subscribe_time, custom_string, msg_flag, last_send_msg_time,
                                                 event_id, event_data)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for subscriber in subscribers where CallbackBodyParser.isValidIdentifier(subscriber.account) {
            let fields = SubscriberFields(subscribeTime: subscriber.subscribeTime, msgFlag: subscriber.msgFlag,
                                          customString: subscriber.customString, lastSendMsgTime: subscriber.lastSendMsgTime)
            let event = ChangeEvent.subscriber(.subscribed, account: account, subscriber: subscriber.account, time: requestedAt,
                                               origin: .reconcile, operatorAccount: nil, fields: fields)
            try statement.execute(arguments: [subscriber.account, requestedAt, subscriber.subscribeTime, subscriber.customString,
                                              subscriber.msgFlag, subscriber.lastSendMsgTime, EventOutbox.newEventID(),
                                              String(decoding: event.data, as: UTF8.self)])
        }
    }
}
