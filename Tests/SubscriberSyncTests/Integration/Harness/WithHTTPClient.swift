import AsyncHTTPClient

/// Runs `body` with a dedicated HTTP client (more connections per host than the shared one).
func withHTTPClient<T>(connectionsPerHost: Int = 32, _ body: (HTTPClient) async throws -> T) async throws -> T {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connectionsPerHost
    // Short: after a kill, queued requests wait for this while the pool retries connecting.
    configuration.timeout.connect = .seconds(1)
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}
