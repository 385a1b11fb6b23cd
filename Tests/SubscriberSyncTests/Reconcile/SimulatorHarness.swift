import AsyncHTTPClient
import Foundation
import GRDB
import Logging
import Synchronization
import Testing
import TencentSimulator
@testable import SubscriberSync

/// A simulator served over real loopback HTTP, a real SQLite store, and the production client
/// and reconciler between them.
final class SimulatorHarness: Sendable {
    static let key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
    static let sdkAppID: UInt64 = 1_400_000_000
    let simulator: TencentSimulator
    let directory: TemporaryDirectory
    let database: DatabasePool
    let store: SubscriberStore
    let baseURL: String
    private let server: Task<Void, any Error>

    init(callsPerSecond: Int = 200) async throws {
        simulator = TencentSimulator(sdkAppID: Self.sdkAppID, adminIdentifier: "administrator", secretKey: Self.key, callsPerSecond: callsPerSecond)
        directory = try TemporaryDirectory()
        database = try StoreDatabase.open(path: directory.file("store.sqlite"))
        store = SubscriberStore(outbox: EventOutbox(sdkAppID: String(Self.sdkAppID)))
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let simulator = self.simulator
        server = Task {
            try await simulator.run(host: "127.0.0.1", port: 0) { _, port in continuation.yield(port) }
        }
        var iterator = stream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        baseURL = "http://127.0.0.1:\(port)"
    }

    deinit { server.cancel() }

    func client(rateLimit: Int = 190, maxAttempts: Int = 5, timeout: Duration = .seconds(5)) -> TencentClient {
        TencentClient(
            configuration: TencentClientConfiguration(baseURL: baseURL, sdkAppID: Self.sdkAppID, identifier: "administrator", secretKey: Self.key,
                                                      rateLimit: rateLimit, timeout: timeout, maxAttempts: maxAttempts),
            logger: Logger(label: "test-client"),
            transientBackoff: Backoff(base: .milliseconds(20), cap: .milliseconds(200)),
            slowDownBackoff: Backoff(base: .milliseconds(50), cap: .milliseconds(300))
        )
    }

    func reconciler(removalGuard: RemovalGuard = RemovalGuard(), client: TencentClient? = nil) -> Reconciler {
        Reconciler(client: client ?? self.client(), database: database, store: store, logger: Logger(label: "test-reconciler"),
                   options: .init(removalGuard: removalGuard, batchSize: 64))
    }

    func pass(_ account: String, removalGuard: RemovalGuard = RemovalGuard(), interrupted: @escaping @Sendable () -> Bool = { false }) async -> ReconcileReport {
        await reconciler(removalGuard: removalGuard).pass(account: account, isInterrupted: interrupted)
    }

    /// A callback as the webhook path applies it.
    func callback(_ command: CallbackCommand, recordedAt: Int64 = SystemWallClock().nowMilliseconds()) throws {
        _ = try database.write { try store.apply(command, recordedAt: recordedAt, in: $0) }
    }

    func subscribe(_ account: String, _ subscribers: [String], at time: Int64) throws {
        try callback(.subscribersAdded(SubscriberCallback(account: account, operatorAccount: nil, subscribers: subscribers, eventTime: time)))
    }

    func unsubscribe(_ account: String, _ subscribers: [String], at time: Int64) throws {
        try callback(.subscribersDeleted(SubscriberCallback(account: account, operatorAccount: nil, subscribers: subscribers, eventTime: time)))
    }

    func subscribed(_ account: String) throws -> Set<String> {
        Set(try database.read { try String.fetchAll($0, sql: "SELECT subscriber FROM subscribers WHERE account = ? AND subscribed = 1", arguments: [account]) })
    }

    /// Events after `sequence`, as (type without prefix, subject, data).
    func events(after sequence: Int64 = 0) throws -> [(type: String, subject: String, data: [String: Any])] {
        try database.read { try EventOutbox.events(after: sequence, limit: 10_000_000, in: $0) }.map { event in
            (event.type.replacingOccurrences(of: EventType.prefix, with: ""), event.subject,
             (try? JSONSerialization.jsonObject(with: Data(event.data.utf8)) as? [String: Any]) ?? [:])
        }
    }

    func scalar(_ sql: String) throws -> Int64? {
        try database.read { try Int64.fetchOne($0, sql: sql) }
    }

    func lines() throws -> [[UInt8]] {
        try database.read { try EventOutbox.events(after: 0, limit: 1_000_000, in: $0) }.map { $0.line() }
    }

    func eventIDs() throws -> [String] {
        try database.read { try String.fetchAll($0, sql: "SELECT id FROM outbox") }
    }

    func newestSequence() throws -> Int64 {
        try database.read { try EventOutbox.newestSequence(in: $0) }
    }

    /// `count` subscribers named `prefix0000`…, in the simulator and (optionally) in the store.
    static func names(_ prefix: String, _ range: Range<Int>) -> [String] {
        range.map { "\(prefix)\(String(format: "%05d", $0))" }
    }
}
