import AsyncHTTPClient
import Foundation
import Logging
import Synchronization
import Testing
import TencentSimulator
@testable import SubscriberSync

/// A simulator served over real loopback HTTP, a real store of the given engine, and the
/// production client and reconciler between them.
final class SimulatorHarness: Sendable {
    static let key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
    static let sdkAppID: UInt64 = 1_400_000_000
    let simulator: TencentSimulator
    let store: TestStore
    var storage: any SubscriberStorage { store.storage }
    let baseURL: String
    private let server: Task<Void, any Error>

    init(callsPerSecond: Int = 200, engine: StorageEngine = .sqlite) async throws {
        simulator = TencentSimulator(sdkAppID: Self.sdkAppID, adminIdentifier: "administrator", secretKey: Self.key, callsPerSecond: callsPerSecond)
        store = try await engine.makeStore(sdkAppID: String(Self.sdkAppID))
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

    func client(rateLimit: Int = 190, maxAttempts: Int = 5, timeout: Duration = .seconds(30)) -> TencentClient {
        TencentClient(
            configuration: TencentClientConfiguration(baseURL: baseURL, sdkAppID: Self.sdkAppID, identifier: "administrator", secretKey: Self.key,
                                                      rateLimit: rateLimit, timeout: timeout, maxAttempts: maxAttempts),
            logger: Logger(label: "test-client"),
            transientBackoff: Backoff(base: .milliseconds(20), cap: .milliseconds(200)),
            slowDownBackoff: Backoff(base: .milliseconds(50), cap: .milliseconds(300))
        )
    }

    func reconciler(removalGuard: RemovalGuard = RemovalGuard(), client: TencentClient? = nil) -> Reconciler {
        Reconciler(client: client ?? self.client(), storage: storage, logger: Logger(label: "test-reconciler"),
                   options: .init(removalGuard: removalGuard, batchSize: 64))
    }

    func pass(_ account: String, removalGuard: RemovalGuard = RemovalGuard(), interrupted: @escaping @Sendable () -> Bool = { false }) async -> ReconcileReport {
        await reconciler(removalGuard: removalGuard).pass(account: account, lease: nil, isInterrupted: interrupted)
    }

    /// A callback as the webhook path applies it.
    func callback(_ command: CallbackCommand) async throws {
        if let change = command.storeChange { _ = try await storage.apply(change) }
    }

    func subscribe(_ account: String, _ subscribers: [String], at time: Int64) async throws {
        try await callback(.subscribersAdded(SubscriberCallback(account: account, operatorAccount: nil, subscribers: subscribers, eventTime: time)))
    }

    func unsubscribe(_ account: String, _ subscribers: [String], at time: Int64) async throws {
        try await callback(.subscribersDeleted(SubscriberCallback(account: account, operatorAccount: nil, subscribers: subscribers, eventTime: time)))
    }

    func subscribed(_ account: String) async throws -> Set<String> {
        Set(try await store.subscribed(account))
    }

    func record(_ account: String, _ subscriber: String) async throws -> SubscriberRecord? {
        try await store.record(account, subscriber)
    }

    /// Events after `sequence`, as (type without prefix, subject, data).
    func events(after sequence: Int64 = 0) async throws -> [(type: String, subject: String, data: [String: Any])] {
        try await store.events().filter { $0.sequence > sequence }.map { ($0.type, $0.subject, $0.data) }
    }

    func lines() async throws -> [String] {
        try await store.events().map(\.line)
    }

    func eventIDs() async throws -> [String] {
        try await store.events().map(\.id)
    }

    func newestSequence() async throws -> Int64 {
        try await storage.emitterProgress().newest
    }

    /// `count` subscribers named `prefix0000`…, in the simulator and (optionally) in the store.
    static func names(_ prefix: String, _ range: Range<Int>) -> [String] {
        range.map { "\(prefix)\(String(format: "%05d", $0))" }
    }
}
