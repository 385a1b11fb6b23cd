import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import SubscriberSync
import TencentSimulator

/// `subscriber-sync demo`: the whole product in one run, on loopback. A simulated Tencent with a
/// few thousand subscribers, the real service against it, callbacks played with some lost,
/// duplicated and out of order, and reconcile passes that repair the drift.
public struct DemoScenario: Sendable {
    public struct Summary: Sendable {
        public var subscribersAtStart = 0
        public var callbacksSent = 0
        public var callbacksDropped = 0
        public var callbacksDuplicated = 0
        public var callbacksReordered = 0
        public var reports: [ReconcileReport] = []
        public var eventsShown = 0
        public var storeMatchesTencent = false
        public var mismatch: [String] = []
    }

    let subscribers: Int
    let account = "@TOA#_demo"
    let sdkAppID: UInt64 = 1_400_000_000
    let logger: Logger
    let output: @Sendable (String) -> Void

    public init(subscribers: Int = 3000, logger: Logger, output: @escaping @Sendable (String) -> Void) {
        self.subscribers = subscribers
        self.logger = logger
        self.output = output
    }

    public func run(directory: String) async throws -> Summary {
        let key = UUID().uuidString + UUID().uuidString
        let token = UUID().uuidString
        var summary = Summary()

        // Stopping the simulator by cancellation makes Hummingbird log at error level; keep it quiet.
        var quiet = logger
        quiet.logLevel = .critical
        let simulator = TencentSimulator(sdkAppID: sdkAppID, adminIdentifier: "administrator", secretKey: key, callsPerSecond: 200, logger: quiet)
        simulator.createAccount(account, name: "Demo shop")
        simulator.seed(account: account, count: subscribers, prefix: "fan")
        summary.subscribersAtStart = subscribers
        let (simulatorPort, simulatorTask) = try await Self.start { onListening in
            try await simulator.run(host: "127.0.0.1", port: 0) { _, port in await onListening(port) }
        }
        defer { simulatorTask.cancel() }

        let settings = try await ServiceSettings.load(
            flags: [.sdkappid: [String(sdkAppID)], .listen: ["127.0.0.1:0"], .database: [directory + "/demo.sqlite"],
                    .events: [directory + "/events.jsonl"], .apiBaseUrl: ["http://127.0.0.1:\(simulatorPort)"],
                    .reconcileInterval: ["0"], .officialAccounts: [account]],
            configFile: nil,
            environment: [ServiceSettings.secretKeyEnvironment: key, ServiceSettings.callbackTokenEnvironment: token]
        )
        let app = SubscriberSyncApp(settings: settings, logger: logger)
        try await app.storage.open()
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let group = ServiceGroup(configuration: .init(
            services: [try app.application(onListening: { portContinuation.yield($0) })], logger: logger))
        let groupTask = Task { try await group.run() }
        var portIterator = ports.makeAsyncIterator()
        guard let servicePort = await portIterator.next() else { throw DemoError(description: "the service did not start") }
        defer { groupTask.cancel() }
        guard let reconciler = try app.reconciler() else { throw DemoError(description: "no reconciler") }

        output("== initial sync: reconcile a store that knows nobody yet")
        let initial = await reconciler.pass(account: account, lease: nil, isInterrupted: { false })
        summary.reports.append(initial)
        output("   \(Self.describe(initial))")
        try await waitForEmitter(app)
        let mark = try await app.storage.emitterProgress().newest

        output("== the Chat console: subscribers come and go; some callbacks are lost, duplicated or reordered")
        // Tencent gives up after 2 s; the demo shows what the service does with callbacks, not
        // that a busy laptop commits within 2 s, so it waits longer rather than stop half way.
        let sender = CallbackSender(url: "http://127.0.0.1:\(servicePort)\(settings.callbackPath)", sdkAppID: sdkAppID, token: token,
                                    timeout: .seconds(15))
        var time = SystemWallClock().nowMilliseconds()
        func next() -> Int64 { time += 1; return time }
        try await simulator.subscribe(account: account, users: ["alice", "bob", "carol"], eventTime: next(), notify: sender)
        try await simulator.subscribe(account: account, users: ["dave"], eventTime: next(), notify: sender, mode: .duplicate)
        try await simulator.subscribe(account: account, users: ["erin", "frank"], eventTime: next(), notify: sender, mode: .drop)
        try await simulator.unsubscribe(account: account, users: ["fan00000001"], eventTime: next(), notify: sender)
        try await simulator.unsubscribe(account: account, users: ["fan00000002", "fan00000003"], eventTime: next(), notify: sender, mode: .drop)
        // grace subscribes and leaves again; the two callbacks arrive newest first.
        try await simulator.subscribe(account: account, users: ["grace"], eventTime: next(), notify: sender, mode: .hold)
        try await simulator.unsubscribe(account: account, users: ["grace"], eventTime: next(), notify: sender, mode: .hold)
        try await sender.releaseHeld(reversed: true)
        _ = simulator.updateSubscriber(account: account, subscriber: "fan00000010") { $0.msgFlag = "Discard"; $0.customString = "muted" }
        summary.callbacksSent = sender.deliveries.count
        summary.callbacksDropped = sender.droppedCount
        summary.callbacksDuplicated = 1
        summary.callbacksReordered = 2
        output("   \(summary.callbacksSent) callbacks delivered (1 twice, 2 out of order), \(summary.callbacksDropped) lost; 1 subscriber changed its message setting")

        output("== reconcile: lost subscribes and changed fields are repaired on the first pass")
        let first = await reconciler.pass(account: account, lease: nil, isInterrupted: { false })
        summary.reports.append(first)
        output("   \(Self.describe(first))")
        output("== reconcile again: subscribers missing from two listings in a row are removed")
        let second = await reconciler.pass(account: account, lease: nil, isInterrupted: { false })
        summary.reports.append(second)
        output("   \(Self.describe(second))")
        try await waitForEmitter(app)

        output("== the event stream after the initial sync (\(initial.added) subscribed events before it not shown)")
        let events = try await app.storage.events(in: (mark + 1)...Int64.max, limit: 10_000)
        for event in events { output(String(decoding: event.line.dropLast(), as: UTF8.self)) }
        summary.eventsShown = events.count

        var stored = Set<String>()
        try await app.storage.exportSubscribers(account: account) { stored.insert($0.subscriber) }
        let tencent = Set((simulator.subscribers(of: account) ?? []).map(\.account))
        summary.storeMatchesTencent = stored == tencent
        summary.mismatch = Array(stored.symmetricDifference(tencent).sorted().prefix(10))
        await group.triggerGracefulShutdown()
        try await groupTask.value
        return summary
    }

    private func waitForEmitter(_ app: SubscriberSyncApp) async throws {
        for _ in 0..<200 {
            if try await app.storage.emitterProgress().lag == 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DemoError(description: "the event emitter did not catch up")
    }

    static func describe(_ report: ReconcileReport) -> String {
        "\(report.outcome.rawValue): \(report.pages) pages, \(report.listed) listed (SubscriberNum \(report.subscriberNum.map(String.init) ?? "?")), "
            + "+\(report.added) added, -\(report.removed) removed, ~\(report.updated) updated, \(report.held) held, "
            + "\(report.removalCandidates) missing, \(report.durationMilliseconds) ms"
    }

    /// Starts a server task and waits for the port it reports.
    static func start(_ body: @escaping @Sendable (_ onListening: @escaping @Sendable (Int) async -> Void) async throws -> Void) async throws -> (Int, Task<Void, any Error>) {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task {
            defer { continuation.finish() }
            try await body { port in continuation.yield(port) }
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            _ = try await task.value
            throw DemoError(description: "a server did not start")
        }
        return (port, task)
    }

    struct DemoError: Error, CustomStringConvertible {
        var description: String
    }
}
