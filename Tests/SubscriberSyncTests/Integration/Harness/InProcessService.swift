import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import SubscriberSync

/// `serve` in the test's own process: the composition root the executable runs, served on a
/// loopback port by HummingbirdTesting's `.live` mode, with the store, the emitter and the events
/// file as in production. For tests that need no signal, no crash and no second process; those
/// start the executable (`ServiceProcess`).
struct InProcessService: Sendable {
    let port: Int
    let eventsPath: String
    let token: String?
    let log: CapturedLog

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// A client for this service's callback URL.
    func callbacks(client: HTTPClient = .shared) -> CallbackClient {
        CallbackClient(baseURL: baseURL, sdkAppID: IntegrationDefaults.sdkAppID, token: token, client: client)
    }

    /// What the service logged, one line per entry.
    func logText() -> String { log.all.joined(separator: "\n") }
}

extension Sandbox {
    /// Runs `serve` in-process on this sandbox's store (`database` as `startService` names it) with
    /// the callback token, until `body` returns; then shuts it down gracefully (the emitter drains),
    /// so that the events file is complete when this returns.
    func inProcessService<T: Sendable>(database name: String = "store.sqlite", events: String = "events.jsonl",
                                       token: String? = IntegrationDefaults.token,
                                       _ body: @Sendable (InProcessService) async throws -> T) async throws -> T {
        let eventsPath = path(events)
        var environment = databaseEnvironment
        if let token { environment[ServiceSettings.callbackTokenEnvironment] = token }
        let settings = try await ServiceSettings.load(
            flags: [.sdkappid: [IntegrationDefaults.sdkAppID], .listen: ["127.0.0.1:0"], .database: [database(name)], .events: [eventsPath]],
            configFile: nil, environment: environment)
        let log = CapturedLog()
        // In-process, the service shares its threads with every other test running: on PostgreSQL
        // a callback gets more than its production patience (1.5 s) before it is refused.
        var storage: (any SubscriberStorage)?
        if case .postgres(let location) = settings.database {
            storage = PostgresStorage(location: location, sdkAppID: settings.sdkAppID, logger: log.logger, maximumConnections: 12,
                                      callbackPatience: .seconds(15))
        }
        let app = SubscriberSyncApp(settings: settings, logger: log.logger, storage: storage)
        do {
            try await app.storage.open()
            let result = try await app.application().test(.live) { client in
                guard let port = client.port else { throw IntegrationError("the live test client has no port") }
                return try await body(InProcessService(port: port, eventsPath: eventsPath, token: token, log: log))
            }
            await app.storage.close()
            return result
        } catch {
            await app.storage.close()
            throw error
        }
    }
}
