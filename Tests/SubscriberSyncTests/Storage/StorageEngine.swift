import Foundation
import Testing
@testable import SubscriberSync

/// The storage engines every storage behaviour is tested on (Swift Testing arguments). A new
/// engine adds a case here and must pass `StorageConformanceTests` and the property test
/// unchanged.
enum StorageEngine: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// A fresh, empty store of this engine, open and migrated.
    func makeStore(sdkAppID: String = "1400000000", clock: any WallClock = SystemWallClock()) async throws -> TestStore {
        switch self {
        case .sqlite:
            let directory = try TemporaryDirectory(inMemory: true)
            let storage = SQLiteStorage(path: directory.file("store.sqlite"), sdkAppID: sdkAppID, clock: clock)
            try await storage.open()
            return TestStore(storage: storage, keepAlive: directory)
        case .postgres:
            let database = try await TestPostgres.shared.createStore()
            let storage = PostgresStorage(location: database, sdkAppID: sdkAppID, clock: clock, logger: TestPostgres.logger,
                                          maximumConnections: 4, callbackPatience: .seconds(60))
            try await storage.open()
            return TestStore(storage: storage, keepAlive: PostgresStoreLifetime(storage: storage))
        }
    }
}

/// Closes a PostgreSQL store's pool when the test lets go of it.
final class PostgresStoreLifetime: Sendable {
    let storage: PostgresStorage
    init(storage: PostgresStorage) { self.storage = storage }
    deinit {
        let storage = self.storage
        Task { await storage.close() }
    }
}

/// A store under test and whatever must live as long as it (its directory, its database).
struct TestStore: Sendable {
    let storage: any SubscriberStorage
    let keepAlive: any Sendable

    /// Every recorded event, oldest first.
    func events() async throws -> [RecordedEvent] {
        try await storage.events(in: 1...Int64.max, limit: 1_000_000).map(RecordedEvent.init)
    }

    func subscribed(_ account: String) async throws -> [String] {
        var subscribers: [String] = []
        try await storage.exportSubscribers(account: account) { subscribers.append($0.subscriber) }
        return subscribers
    }

    func record(_ account: String, _ subscriber: String) async throws -> SubscriberRecord? {
        var found: SubscriberRecord?
        try await storage.exportSubscribers(account: account) { if $0.subscriber == subscriber { found = $0 } }
        return found
    }

    @discardableResult
    func subscribe(_ account: String, _ subscribers: [String], at version: Int64, operatorAccount: String? = nil) async throws -> ApplyResult {
        try await storage.apply(.subscribers(SubscriberFacts(.subscribed, account: account, subscribers: subscribers, version: version,
                                                             operatorAccount: operatorAccount)))
    }

    @discardableResult
    func unsubscribe(_ account: String, _ subscribers: [String], at version: Int64) async throws -> ApplyResult {
        try await storage.apply(.subscribers(SubscriberFacts(.unsubscribed, account: account, subscribers: subscribers, version: version)))
    }

    /// One complete listing pass with `listed` as the listing (all requested at `requestedAt`),
    /// repairs applied without the removal guard. Returns (added, updated, candidates, removed).
    @discardableResult
    func listingPass(_ account: String, startedAt: Int64, listed: [(String, SubscriberFields)], requestedAt: Int64,
                     remove: Bool = true) async throws -> (added: Int, updated: Int, candidates: Int, removed: Int) {
        let pass = try await storage.beginPass(account: account, startedAt: startedAt)
        try await storage.stage(listed.map { Self.entry($0.0, account: account, fields: $0.1, requestedAt: requestedAt) }, in: pass)
        let candidates = try await storage.markRemovalCandidates(in: pass)
        let updated = try await storage.applyListedFields(in: pass, batchSize: 3)
        let added = try await storage.addListed(in: pass)
        let removed = remove ? try await storage.removeMissing(candidates.removable, in: pass, batchSize: 3) : 0
        try await storage.finishPass(pass, at: requestedAt, outcome: "completed", complete: true, events: [], keepListing: false)
        return (added, updated, candidates.count, removed)
    }

    static func entry(_ subscriber: String, account: String, fields: SubscriberFields = .unknown, requestedAt: Int64) -> ListedSubscriber {
        let event = ChangeEvent.subscriber(.subscribed, account: account, subscriber: subscriber, time: requestedAt, origin: .reconcile,
                                           operatorAccount: nil, fields: fields)
        return ListedSubscriber(subscriber: subscriber, requestedAt: requestedAt, fields: fields, eventID: EventIDGenerator.shared.next(),
                                eventData: event.data)
    }
}

/// A recorded event's line, parsed.
struct RecordedEvent: @unchecked Sendable {
    let sequence: Int64
    let line: String
    let json: [String: Any]

    init(_ event: RenderedEvent) {
        sequence = event.sequence
        line = String(decoding: event.line, as: UTF8.self)
        json = (try? JSONSerialization.jsonObject(with: Data(event.line)) as? [String: Any]) ?? [:]
    }

    var type: String { (json["type"] as? String ?? "").replacingOccurrences(of: EventType.prefix, with: "") }
    var subject: String { json["subject"] as? String ?? "" }
    var id: String { json["id"] as? String ?? "" }
    var data: [String: Any] { json["data"] as? [String: Any] ?? [:] }
    var summary: String { "\(type) \(subject)" }
}

extension SubscriberStorage {
    /// A pass with no lease to check (the lease's own tests give one).
    func beginPass(account: String, startedAt: Int64) async throws -> ListingPass {
        try await beginPass(account: account, startedAt: startedAt, lease: nil)
    }
}
