import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The app's existing callback backend, for relay tests: a real HTTP server on loopback that
/// records every request and answers as the test says (status, body, delay).
final class FakeForwardTarget: Sendable {
    struct Received: Sendable {
        var path: String
        /// The raw query string, as sent.
        var query: String
        var headers: [String: String]
        var body: [UInt8]
        /// What the target answered.
        var status: Int

        /// Query parameters in order, percent-decoded.
        var parameters: [(String, String)] {
            query.split(separator: "&").map { pair in
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                return (parts[0].removingPercentEncoding ?? parts[0], (parts.count > 1 ? parts[1] : "").removingPercentEncoding ?? "")
            }
        }

        func parameter(_ name: String) -> String? { parameters.first { $0.0 == name }?.1 }
        var delivery: String? { headers["subscriber-sync-delivery"] }
        var command: String? { parameter("CallbackCommand") }
    }

    struct Behaviour: Sendable {
        var status = 200
        var body = #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#
        var contentType = "application/json"
        var delay: Duration = .zero
        /// Bodies refused (503) the first time they come, whatever `status` says.
        var refuseOnce: Set<[UInt8]> = []
    }

    private final class State: Sendable {
        let received = Mutex<[Received]>([])
        let behaviour = Mutex(Behaviour())
    }

    private let state = State()
    private let server: Task<Void, any Error>
    let baseURL: String

    init() async throws {
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let state = self.state
        let router = Router()
        router.post("**") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 4 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let bytes = Array(buffer: body)
            let answer = state.behaviour.withLock { behaviour in
                var answer = behaviour
                if behaviour.refuseOnce.remove(bytes) != nil { answer.status = 503 }
                return answer
            }
            state.received.withLock {
                $0.append(Received(path: request.uri.path, query: request.uri.query ?? "", headers: headers, body: bytes,
                                   status: answer.status))
            }
            if answer.delay > .zero { try? await Task.sleep(for: answer.delay) }
            return Response(status: .init(code: answer.status), headers: [.contentType: answer.contentType],
                            body: .init(byteBuffer: ByteBuffer(string: answer.body)))
        }
        var logger = Logger(label: "fake-forward-target")
        logger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "fake-target"),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        server = Task { try await app.runService() }
        var iterator = stream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        baseURL = "http://127.0.0.1:\(port)"
    }

    deinit { server.cancel() }

    var requests: [Received] { state.received.withLock { $0 } }

    func behave(_ change: (inout Behaviour) -> Void) {
        state.behaviour.withLock { change(&$0) }
    }

    /// The requests answered 2xx, in arrival order.
    var accepted: [Received] { requests.filter { (200..<300).contains($0.status) } }

    /// The accepted requests without repeats (a request of the same `Subscriber-Sync-Delivery`
    /// again, as at least once allows), in arrival order: what a target that drops repeats keeps.
    var acceptedOnce: [Received] {
        var seen = Set<String>()
        return accepted.filter { $0.delivery.map { seen.insert($0).inserted } ?? true }
    }

    /// The accepted bodies as text, in arrival order.
    var acceptedBodies: [String] { accepted.map { String(decoding: $0.body, as: UTF8.self) } }
}
