import Hummingbird
import Logging

extension TencentSimulator {
    /// A Hummingbird application serving `router()` on `host:port` (port 0 picks a free one). It is
    /// a `Service`, so it can run in a `ServiceGroup` next to other services (e.g. in a demo).
    /// `onListening` gets the bound address once the socket is up; without it, the simulator's
    /// logger notes `listening on HOST:PORT`.
    public func application(host: String, port: Int,
                            onListening: (@Sendable (_ host: String, _ port: Int) async -> Void)? = nil) -> some ApplicationProtocol {
        let logger = self.logger
        return Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "tencent-simulator"),
            onServerRunning: { channel in
                let address = channel.localAddress
                let boundHost = address?.ipAddress ?? host
                let boundPort = address?.port ?? port
                if let onListening { await onListening(boundHost, boundPort) }
                else { logger.notice("listening on \(boundHost):\(boundPort)") }
            },
            logger: logger
        )
    }

    /// Serves until SIGTERM/SIGINT (or until the task is cancelled).
    public func run(host: String, port: Int, onListening: (@Sendable (_ host: String, _ port: Int) async -> Void)? = nil) async throws {
        try await application(host: host, port: port, onListening: onListening).runService()
    }
}
