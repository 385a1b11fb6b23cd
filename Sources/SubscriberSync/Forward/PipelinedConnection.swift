import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A keep-alive HTTP/1.1 connection to one forward target that carries several requests at once
/// (`--forward-pipeline`): they are written back to back and answered in the order sent, so the
/// target still receives its jobs in order while each exchange no longer waits for the one before.
/// One sequential exchange per job costs both sides a wake-up and a system call each way, which
/// capped delivery well below the rate callbacks are acknowledged at.
///
/// Used by one task at a time (a target's delivery loop).
final class PipelinedConnection {
    /// What became of one request: the answer's status, or why there is none.
    enum Outcome: Equatable {
        case answered(UInt)
        case unanswered(String)
    }

    let endpoint: Endpoint
    private let group: any EventLoopGroup
    private let connectTimeout: TimeAmount
    private var channel: (any Channel)?
    /// Answers the open connection has given.
    private var answersOnChannel = 0
    private let tlsConfiguration: TLSConfiguration
    private var tls: NIOSSLContext?

    /// - Parameters:
    ///   - url: the target as configured (`ForwardRule` checked it).
    ///   - tlsConfiguration: for an `https` target; by default the system's trust roots, with the
    ///     certificate checked against the host name, as AsyncHTTPClient does.
    init(url: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, connectTimeout: Duration = .seconds(2),
         tlsConfiguration: TLSConfiguration = .makeClientConfiguration()) throws {
        endpoint = try Endpoint(url: url)
        self.group = group
        self.connectTimeout = .nanoseconds(Int64(connectTimeout.nanoseconds))
        self.tlsConfiguration = tlsConfiguration
    }

    deinit {
        channel?.close(promise: nil)
    }

    func close() {
        channel?.close(promise: nil)
        channel = nil
    }

    /// Sends `requests` in order, and waits for their answers, each within `timeout` of the write
    /// or of the answer before.
    ///
    /// A connection that ends early has its unanswered requests sent again, in order, on a new one:
    /// after the target closed it having answered some (a per-connection request limit; later
    /// rounds of this call then send at most that many per connection), or when the connection,
    /// used before, answered none (it had been closed while idle). A new connection that answers
    /// nothing, a timeout, or cancellation leaves the rest unanswered.
    func send(_ requests: [(uri: String, headers: HTTPHeaders, body: ByteBuffer)], timeout: Duration) async -> [Outcome] {
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(requests.count)
        var requestsPerConnection: Int?
        while outcomes.count < requests.count {
            if let limit = requestsPerConnection, answersOnChannel >= limit { close() }
            let channel: any Channel, reused: Bool
            do {
                (channel, reused) = try await connection(timeout: timeout)
            } catch {
                outcomes += Array(repeating: .unanswered("cannot connect: \(error)"), count: requests.count - outcomes.count)
                break
            }
            let room = requestsPerConnection.map { max(1, $0 - answersOnChannel) } ?? requests.count
            let sent = requests[outcomes.count..<min(requests.count, outcomes.count + room)].map { request in
                var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: request.uri, headers: request.headers)
                head.headers.replaceOrAdd(name: "Host", value: endpoint.hostHeader)
                head.headers.replaceOrAdd(name: "Content-Length", value: String(request.body.readableBytes))
                return PipelinedRequest(head: head, body: request.body, answer: channel.eventLoop.makePromise(of: UInt.self))
            }
            // One hop onto the connection's event loop for the writes, and one back for all the
            // answers: a hop per request cost more than the exchange.
            let loop = channel.eventLoop
            let answers = loop.flatSubmit {
                for request in sent {
                    // A channel closed meanwhile has no handler left to fail the answer.
                    let written = loop.makePromise(of: Void.self)
                    written.futureResult.whenFailure { request.answer.fail($0) }
                    channel.write(request, promise: written)
                }
                channel.flush()
                return EventLoopFuture.whenAllComplete(sent.map(\.answer.futureResult), on: loop)
            }
            let results = await withTaskCancellationHandler {
                (try? await answers.get()) ?? []
            } onCancel: {
                channel.close(promise: nil)
            }
            var answered = 0
            var failure: (any Error)? = results.count == sent.count ? nil : PipelinedAnswers.Closed()
            for result in results {
                guard case .success(let status) = result else {
                    if case .failure(let error) = result { failure = error }
                    break
                }
                outcomes.append(.answered(status))
                answered += 1
            }
            answersOnChannel += answered
            guard let failure else { continue }
            self.channel = nil
            channel.close(promise: nil)
            let stop: String? = Task.isCancelled ? "cancelled" : failure is PipelinedAnswers.TimedOut ? "\(failure)"
                : answered == 0 && !reused ? "\(failure)" : nil
            if let stop {
                outcomes += Array(repeating: .unanswered(stop), count: requests.count - outcomes.count)
            } else if answered > 0 {
                requestsPerConnection = answersOnChannel
            }
        }
        return outcomes
    }

    /// The open connection, or a new one; and whether it had carried requests before.
    private func connection(timeout: Duration) async throws -> (any Channel, Bool) {
        if let channel, channel.isActive { return (channel, true) }
        channel = nil
        answersOnChannel = 0
        if endpoint.secure && tls == nil {
            tls = try NIOSSLContext(configuration: tlsConfiguration)
        }
        let tls = self.tls
        let serverName = endpoint.serverName
        let answerTimeout = TimeAmount.nanoseconds(Int64(timeout.nanoseconds))
        let opened = try await ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(PipelinedAnswers(timeout: answerTimeout))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .get()
        channel = opened
        return (opened, false)
    }

    /// Where a target URL points: the address to dial and what the request head names.
    struct Endpoint {
        var secure: Bool
        var host: String
        var port: Int
        var hostHeader: String
        /// For TLS's server name and certificate check; nil for an IP address, which SNI cannot carry.
        var serverName: String?
        /// The configured URL's path and query, `/` at least: what a request names.
        var requestTarget: String

        struct Invalid: Error, CustomStringConvertible {
            var description: String
        }

        init(url: String) throws {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty else {
                throw Invalid(description: "\(ForwardRule.displayName(url)) is not an http:// or https:// URL with a host")
            }
            secure = scheme == "https"
            let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
            self.host = bare
            port = components.port ?? (secure ? 443 : 80)
            let named = bare.contains(":") ? "[\(bare)]" : bare
            hostHeader = components.port.map { "\(named):\($0)" } ?? named
            serverName = bare.contains(":") || bare.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : bare
            let afterScheme = url.range(of: "://").map(\.upperBound) ?? url.startIndex
            let rest = url[afterScheme...].drop { $0 != "/" && $0 != "?" }
            requestTarget = rest.first == "/" ? String(rest) : "/" + rest
        }
    }
}
