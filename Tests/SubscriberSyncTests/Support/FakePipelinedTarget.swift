import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A forward target for `PipelinedConnection`'s tests: an HTTP/1.1 server on loopback that takes
/// pipelined requests and answers them in order, each as the test's `answer` says (by the
/// request's number across connections, from 0): a status, then maybe closing the connection
/// (saying so with `Connection: close`, or not), or no answer at all.
final class FakePipelinedTarget: Sendable {
    enum Closing: Sendable { case keepOpen, announced, abrupt }

    enum Answer: Sendable {
        case status(UInt, Closing = .keepOpen)
        /// The status after a pause (the next request waits behind it, as HTTP/1.1 has it).
        case late(UInt, milliseconds: Int64)
        /// No answer, the connection left open.
        case silence
        /// No answer, the connection closed.
        case drop
    }

    struct Seen: Sendable, Equatable {
        /// Which connection it came on, numbered from 0 in the order they were accepted.
        var connection: Int
        var uri: String
        var host: String?
        var body: String
    }

    private final class State: Sendable {
        let seen = Mutex<[Seen]>([])
        let connections = Mutex(0)
        let answer: @Sendable (Int) -> Answer
        init(answer: @escaping @Sendable (Int) -> Answer) { self.answer = answer }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let state: State
        let connection: Int
        var head: HTTPRequestHead?
        var body = ByteBuffer()
        /// Closing: requests already read behind the last answer are never looked at.
        var closing = false

        init(state: State, connection: Int) {
            self.state = state
            self.connection = connection
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !closing else { return }
            switch unwrapInboundIn(data) {
            case .head(let received):
                head = received
                body.clear()
            case .body(var part):
                body.writeBuffer(&part)
            case .end:
                let seen = Seen(connection: connection, uri: head?.uri ?? "", host: head?.headers.first(name: "Host"),
                                body: String(buffer: body))
                let number = state.seen.withLock { all in
                    all.append(seen)
                    return all.count - 1
                }
                switch state.answer(number) {
                case .status(let code, let closing):
                    respond(code, closing: closing, context: context)
                case .late(let code, let milliseconds):
                    let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                    context.eventLoop.scheduleTask(in: .milliseconds(milliseconds)) {
                        let (handler, context) = bound.value
                        handler.respond(code, closing: .keepOpen, context: context)
                    }
                case .silence:
                    break
                case .drop:
                    closing = true
                    context.close(promise: nil)
                }
            }
        }

        private func respond(_ code: UInt, closing: Closing, context: ChannelHandlerContext) {
            var headers = HTTPHeaders([("Content-Length", "2")])
            if closing == .announced { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: Int(code)), headers: headers))),
                          promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "ok")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            if closing != .keepOpen {
                self.closing = true
                context.close(promise: nil)
            }
        }
    }

    private let state: State
    private let server: any Channel
    let port: Int

    /// - Parameter tls: serve https with this configuration (its certificate and key).
    init(tls: TLSConfiguration? = nil, answer: @escaping @Sendable (Int) -> Answer = { _ in .status(200) }) async throws {
        let state = State(answer: answer)
        self.state = state
        let tlsContext = try tls.map(NIOSSLContext.init(configuration:))
        scheme = tls == nil ? "http" : "https"
        server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let connection = state.connections.withLock { count in
                    defer { count += 1 }
                    return count
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let tlsContext { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true)
                    try channel.pipeline.syncOperations.addHandler(Handler(state: state, connection: connection))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        port = server.localAddress?.port ?? 0
    }

    private let scheme: String
    var url: String { url(host: "127.0.0.1") }
    func url(host: String) -> String { "\(scheme)://\(host):\(port)/hook?app=1" }
    var seen: [Seen] { state.seen.withLock { $0 } }
    var connections: Int { state.connections.withLock { $0 } }

    func shutdown() async {
        try? await server.close()
    }
}
