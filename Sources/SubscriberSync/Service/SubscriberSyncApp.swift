import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// The composition root: the one place that knows every concrete type. It does no I/O when it is
/// made; the store opens in `run` (or on first use), the event output when this process first
/// holds the emitter lease.
public struct SubscriberSyncApp: Sendable {
    public let settings: ServiceSettings
    public let storage: any SubscriberStorage
    public let emitter: EventEmitter
    /// This process in the store's lease rows (emitter, reconciler).
    public let holder: String
    /// Callbacks' commits as `/readyz` sees them.
    let commitHealth: CommitHealth
    let clock: any WallClock
    let logger: Logger
    /// Where `/metrics` reads from; nil when no metrics backend is bootstrapped (tests).
    let metrics: PrometheusCollectorRegistry?

    /// `sink` and `storage` replace the configured event output and store (tests).
    public init(settings: ServiceSettings, logger: Logger, clock: any WallClock = SystemWallClock(),
                sink: (@Sendable () throws -> any EventSink)? = nil, storage: (any SubscriberStorage)? = nil,
                metrics: PrometheusCollectorRegistry? = nil) {
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        commitHealth = CommitHealth(clock: clock)
        self.storage = storage ?? Self.makeStorage(settings.database, sdkAppID: settings.sdkAppID, clock: clock, logger: logger)
        let (events, rotateBytes) = (settings.events, settings.eventsRotateBytes)
        let makeSink: @Sendable () throws -> any EventSink = sink ?? {
            switch events {
            case .stdout: StdoutEventSink()
            case .file(let path): try FileEventSink(path: path, rotateBytes: rotateBytes, clock: clock)
            }
        }
        holder = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UUID().uuidString.prefix(8))"
        emitter = EventEmitter(store: self.storage, sink: makeSink, holder: holder, logger: logger,
                               retention: settings.outboxRetentionSeconds.map { .seconds($0) }, wallClock: clock)
    }

    /// The engine `location` names. `existingOnly` opens a SQLite file only if it exists and is up
    /// to date (readers such as `export`); a PostgreSQL database is always brought up to date.
    public static func makeStorage(_ location: StorageLocation, sdkAppID: String, existingOnly: Bool = false,
                                   clock: any WallClock = SystemWallClock(), logger: Logger) -> any SubscriberStorage {
        switch location {
        case .sqlite(let path):
            SQLiteStorage(path: path, sdkAppID: sdkAppID, access: existingOnly ? .existing : .readWrite, clock: clock)
        case .postgres(let postgres):
            // Enough connections for the group commit's concurrent batches, the emitter, the
            // reconciler and readiness probes, well under PostgreSQL's default of 100 per server.
            PostgresStorage(location: postgres, sdkAppID: sdkAppID, clock: clock, logger: logger, maximumConnections: 12)
        }
    }

    /// `beforeRelay` passes before-callbacks on (`--forward`); without it they are answered as if
    /// no rule matched. `forwarder` is woken when a callback queues jobs.
    public func router(beforeRelay: BeforeCallbackRelay? = nil, forwarder: Forwarder? = nil) -> Router<BasicRequestContext> {
        let router = Router()
        let handler = CallbackHandler(
            verifier: CallbackVerifier(sdkAppID: settings.sdkAppID, callbackToken: settings.callbackToken,
                                       requestTimeWindowSeconds: settings.requestTimeWindowSeconds, clock: clock),
            storage: storage, logger: logger, health: commitHealth, forwarding: settings.forwarding, beforeRelay: beforeRelay, clock: clock,
            forwardsQueued: { forwarder?.jobsQueued() }
        )
        router.post(RouterPath(settings.callbackPath)) { request, _ in await handler.handle(request) }
        if settings.metricsPort == nil {
            addObservability(to: router)
        } else {
            // /healthz stays here too: a container health check probes the main port.
            HealthRoutes.addLiveness(to: router)
        }
        return router
    }

    /// The read API over this app's store (`--read-api-listen`).
    public func readAPI() -> ReadAPI {
        let authenticator = AdminCallAuthenticator(sdkAppID: UInt64(settings.sdkAppID) ?? 0, adminIdentifier: settings.identifier,
                                                   secretKey: settings.secretKey)
        return ReadAPI(storage: storage, authenticator: authenticator, token: settings.readAPI?.token, clock: clock, logger: logger)
    }

    /// `/metrics`, `/healthz` and `/readyz`: on the callback listener, or on `--metrics-listen`.
    func addObservability(to router: Router<BasicRequestContext>) {
        HealthRoutes.add(to: router, storage: storage, commits: commitHealth, clock: clock)
        if let metrics { MetricsRoute.add(to: router, registry: metrics, storage: storage) }
    }

    /// Warnings about the configuration that do not stop the service.
    public func startupWarnings() async throws {
        if settings.callbackToken == nil {
            logger.warning("no callback token configured (\(ServiceSettings.callbackTokenEnvironment) or --callback-token-file): callbacks are NOT authenticated; anyone who can reach \(settings.callbackPath) can change the store")
        }
        for rule in settings.forwarding.rules {
            logger.notice("passing callbacks on", metadata: [
                "target": "\(ForwardRule.displayName(rule.url))",
                "commands": "\(rule.patterns.isEmpty ? "*" : rule.patterns.joined(separator: ","))",
            ])
        }
        if let readAPI = settings.readAPI {
            if readAPI.token == nil {
                logger.warning("the read API has no token (\(ServiceSettings.readAPITokenEnvironment) or --read-api-token-file): its /v1 endpoints answer 401 to everything")
            }
            if settings.secretKey == nil {
                logger.warning("no secret key (\(ServiceSettings.secretKeyEnvironment) or --secret-key-file): the read API's get_subscriber_info refuses every UserSig (70016)")
            }
        }
        if !settings.forwarding.rules.isEmpty && settings.forwarding.token == nil {
            logger.warning("no forward token (\(ServiceSettings.forwardTokenEnvironment), --forward-token-file or the callback token): forwarded callbacks go out without RequestTime and Sign")
        }
        let destroyed = Set(try await storage.accounts().filter { !$0.isLive }.map(\.account))
        for account in settings.officialAccounts where destroyed.contains(account) {
            logger.warning("configured official account was destroyed; it is no longer reconciled", metadata: ["account": "\(account)"])
        }
    }

    /// The reconciler over this app's store, or nil when REST calls are not configured.
    public func reconciler(httpClient: HTTPClient = .shared, removalGuard: RemovalGuard? = nil, oneShot: Bool = false) throws -> Reconciler? {
        guard settings.secretKey != nil else { return nil }
        let client = TencentClient(configuration: try settings.clientConfiguration(), httpClient: httpClient, logger: logger, clock: clock)
        return Reconciler(client: client, storage: storage, clock: clock, logger: logger,
                          options: .init(removalGuard: removalGuard ?? settings.removalGuard, dropListingAfterPass: !oneShot))
    }

    /// Runs until SIGTERM/SIGINT. Services start in dependency order (the store's group commit and
    /// housekeeping, the event emitter, the reconciler, the HTTP server) and stop in reverse, so
    /// every callback acknowledged before shutdown is also written out before exit.
    public func run() async throws {
        logger.info("opening the store", metadata: ["database": "\(settings.database)"])
        try await storage.open()
        try await startupWarnings()
        let group = ServiceGroup(configuration: .init(services: [try application()], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await storage.close()
    }

    /// The whole service as one Hummingbird application (a `Service`) whose own services are the
    /// store's, the emitter, the SIGHUP reopener, the reconciler and the metrics listener.
    /// `onListening` gets the bound callback port.
    public func application(onListening: (@Sendable (Int) async -> Void)? = nil) throws -> some ApplicationProtocol {
        let logger = self.logger
        // Everything that may throw comes before the forward client, which must be shut down once made.
        var reconcileService: ReconcileService?
        if settings.reconcileIntervalSeconds == 0 {
            logger.notice("periodic reconcile is off (reconcile interval 0)")
        } else if let reconciler = try reconciler() {
            let interval = Duration.seconds(settings.reconcileIntervalSeconds)
            let exclusive = ExclusiveReconcile(reconciler: reconciler, storage: storage, holder: holder, logger: logger)
            reconcileService = ReconcileService(reconciler: exclusive, configuredAccounts: settings.officialAccounts,
                                                interval: interval, firstDelay: min(.seconds(5), interval), logger: logger)
        } else {
            logger.warning("periodic reconcile is off: no secret key (\(ServiceSettings.secretKeyEnvironment) or --secret-key-file); lost callbacks will not be repaired")
        }
        // Keep-alive connections of their own: a slow target must not hold up Tencent's REST
        // calls. Redirects are answers (non-2xx), not followed. Shut down by the forwarder, which
        // stops after the HTTP server whose before-callbacks also use it.
        var clientConfiguration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        clientConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        // A target that refuses connections fails the try at once (the forwarder backs off; a
        // before-callback gets its fallback) instead of being redialled until the deadline.
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        clientConfiguration.timeout.connect = .seconds(2)
        let forwardClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let forwarder = Forwarder(queue: storage, options: settings.forwarding, httpClient: forwardClient, ownsHTTPClient: true,
                                  holder: holder, clock: clock, logger: logger)
        let beforeRelay = BeforeCallbackRelay(options: settings.forwarding, httpClient: forwardClient, clock: clock, logger: logger)
        var services: [any Service] = storage.services(logger: logger) + [emitter, HangupReopener(emitter: emitter), forwarder]
        if let reconcileService { services.append(reconcileService) }
        if let metricsHost = settings.metricsHost, let metricsPort = settings.metricsPort {
            let observability = Router()
            addObservability(to: observability)
            services.append(Application(
                router: observability,
                configuration: .init(address: .hostname(metricsHost, port: metricsPort), serverName: "subscriber-sync-metrics"),
                onServerRunning: { channel in
                    logger.notice("metrics served on \(channel.localAddress?.ipAddress ?? "?"):\(channel.localAddress?.port ?? 0)")
                },
                logger: logger
            ))
        }
        if let listen = settings.readAPI {
            let api = readAPI()
            services.append(ReadAPIServer(application: Application(
                router: api.router(),
                configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "subscriber-sync-read-api"),
                onServerRunning: { channel in
                    logger.notice("read API served on \(channel.localAddress?.ipAddress ?? "?"):\(channel.localAddress?.port ?? 0)")
                },
                logger: logger
            ), api: api))
        }
        let app = Application(
            router: router(beforeRelay: beforeRelay, forwarder: forwarder),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "subscriber-sync"),
            services: services,
            onServerRunning: { channel in
                let address = channel.localAddress
                logger.notice("listening on \(address?.ipAddress ?? "?"):\(address?.port ?? 0)")
                await onListening?(address?.port ?? 0)
            },
            logger: logger
        )
        return app
    }
}
