import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Subprocess
import Testing
@testable import SubscriberSync

/// `--forward-pipeline`'s connection against a real HTTP/1.1 server on loopback: answers paired
/// with requests in order, and a connection that ends early.
@Suite(.timeLimit(.minutes(1))) struct PipelinedConnectionTests {
    static func requests(_ numbers: Range<Int>, to target: FakePipelinedTarget) throws -> [(uri: String, headers: HTTPHeaders, body: ByteBuffer)] {
        let endpoint = try PipelinedConnection.Endpoint(url: target.url)
        return numbers.map { (endpoint.requestTarget + "&n=\($0)", HTTPHeaders([("Content-Type", "text/plain")]), ByteBuffer(string: "job \($0)")) }
    }

    static func bodies(_ numbers: Range<Int>) -> [String] { numbers.map { "job \($0)" } }

    @Test func answersArePairedWithRequestsInOrderOnOneConnection() async throws {
        // Every third request is refused: its status, not its neighbour's, comes back for it.
        let target = try await FakePipelinedTarget { $0 % 3 == 2 ? .status(503) : .status(200) }
        let connection = try PipelinedConnection(url: target.url)
        let outcomes = await connection.send(try Self.requests(0..<20, to: target), timeout: .seconds(10))
        #expect(outcomes == (0..<20).map { $0 % 3 == 2 ? .answered(503) : .answered(200) })
        #expect(target.seen.map(\.body) == Self.bodies(0..<20))
        #expect(target.seen.map(\.uri) == (0..<20).map { "/hook?app=1&n=\($0)" })
        #expect(target.seen.allSatisfy { $0.host == "127.0.0.1:\(target.port)" })
        // The next window reuses the connection.
        let again = await connection.send(try Self.requests(20..<25, to: target), timeout: .seconds(10))
        #expect(again == (20..<25).map { $0 % 3 == 2 ? .answered(503) : .answered(200) })
        #expect(target.connections == 1)
        connection.close()
        await target.shutdown()
    }

    @Test func httpsTargetsAreReachedAndTheirCertificateIsChecked() async throws {
        let directory = try TemporaryDirectory()
        do {
            // A certificate for "localhost", made by openssl for this test.
            let key = directory.file("key.pem"), certificate = directory.file("cert.pem")
            let made = try await Subprocess.run(.name("openssl"), arguments: ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                                                  "-nodes", "-keyout", key, "-out", certificate, "-days", "1",
                                                                  "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                                     output: .discarded, error: .string(limit: 4096))
            try #require(made.terminationStatus.isSuccess, "\(made.standardError)")
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            let server = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .file(key))
            let target = try await FakePipelinedTarget(tls: server)
            var trusting = TLSConfiguration.makeClientConfiguration()
            trusting.trustRoots = .file(certificate)

            let connection = try PipelinedConnection(url: target.url(host: "localhost"), tlsConfiguration: trusting)
            let requests = try Self.requests(0..<5, to: target)
            #expect(await connection.send(requests, timeout: .seconds(10)) == Array(repeating: .answered(200), count: 5))
            #expect(target.seen.map(\.body) == Self.bodies(0..<5))
            #expect(target.seen.allSatisfy { $0.host == "localhost:\(target.port)" })
            connection.close()

            // The default trust roots do not know this certificate: nothing is sent.
            let untrusting = try PipelinedConnection(url: target.url(host: "localhost"))
            let refused = await untrusting.send(requests, timeout: .seconds(10))
            #expect(refused.count == 5)
            #expect(refused.allSatisfy { if case .unanswered = $0 { true } else { false } }, "\(refused)")
            #expect(target.seen.count == 5)
            untrusting.close()
            await target.shutdown()
        }
    }

    @Test(arguments: [FakePipelinedTarget.Closing.announced, .abrupt])
    func requestsLeftUnansweredByAClosingTargetGoAgainOnANewConnection(closing: FakePipelinedTarget.Closing) async throws {
        // The target closes after its third answer (as a server with a per-connection request
        // limit does): the requests it never read are sent again, in order, each answered once,
        // at most three to a connection from then on.
        let target = try await FakePipelinedTarget { $0 == 2 ? .status(200, closing) : .status(200) }
        let connection = try PipelinedConnection(url: target.url)
        let outcomes = await connection.send(try Self.requests(0..<8, to: target), timeout: .seconds(10))
        #expect(outcomes == Array(repeating: .answered(200), count: 8))
        #expect(target.seen.map(\.body) == Self.bodies(0..<8))
        #expect(target.seen.map(\.connection) == [0, 0, 0, 1, 1, 1, 2, 2])
        connection.close()
        await target.shutdown()
    }

    @Test func aConnectionClosedWhileIdleIsReplacedWithoutAFailure() async throws {
        let target = try await FakePipelinedTarget { $0 == 0 ? .status(200, .abrupt) : .status(200) }
        let connection = try PipelinedConnection(url: target.url)
        #expect(await connection.send(try Self.requests(0..<1, to: target), timeout: .seconds(10)) == [.answered(200)])
        #expect(await connection.send(try Self.requests(1..<3, to: target), timeout: .seconds(10)) == [.answered(200), .answered(200)])
        #expect(target.seen.map(\.body) == Self.bodies(0..<3))
        #expect(target.connections == 2)
        connection.close()
        await target.shutdown()
    }

    static func isUnanswered(_ outcome: PipelinedConnection.Outcome, because text: String) -> Bool {
        if case .unanswered(let reason) = outcome { reason.contains(text) } else { false }
    }

    @Test func aTargetThatStopsAnsweringTimesTheRestOut() async throws {
        let target = try await FakePipelinedTarget { $0 == 1 ? .silence : .status(200) }
        let connection = try PipelinedConnection(url: target.url)
        // Seconds, not milliseconds: under CI's load even the first answer once took longer than 300 ms.
        let outcomes = await connection.send(try Self.requests(0..<4, to: target), timeout: .seconds(2))
        #expect(outcomes.first == .answered(200))
        #expect(outcomes.count == 4)
        #expect(outcomes.dropFirst().allSatisfy { Self.isUnanswered($0, because: "no answer within") }, "\(outcomes)")
        #expect(target.connections == 1, "a timeout is not sent again")
        connection.close()
        await target.shutdown()
    }

    @Test func theTimeoutCountsFromTheAnswerBefore() async throws {
        // Four answers 1 s apart take 4 s, more than the timeout, yet each comes in time (with 2 s
        // to spare each, for a loaded machine).
        let target = try await FakePipelinedTarget { _ in .late(200, milliseconds: 1_000) }
        let connection = try PipelinedConnection(url: target.url)
        let outcomes = await connection.send(try Self.requests(0..<4, to: target), timeout: .milliseconds(3_000))
        #expect(outcomes == Array(repeating: .answered(200), count: 4))
        connection.close()
        await target.shutdown()
    }

    @Test func aNewConnectionClosedWithoutAnAnswerIsNotTriedAgain() async throws {
        // The forwarder backs off instead: a target that drops every request is not hammered.
        let target = try await FakePipelinedTarget { _ in .drop }
        let connection = try PipelinedConnection(url: target.url)
        let outcomes = await connection.send(try Self.requests(0..<3, to: target), timeout: .seconds(10))
        #expect(outcomes.count == 3)
        #expect(outcomes.allSatisfy { Self.isUnanswered($0, because: "closed the connection") }, "\(outcomes)")
        #expect(target.connections == 1)
        connection.close()
        await target.shutdown()
    }

    @Test func aUsedConnectionClosedUnderARequestIsReplacedOnce() async throws {
        let target = try await FakePipelinedTarget { $0 == 1 ? .drop : .status(200) }
        let connection = try PipelinedConnection(url: target.url)
        #expect(await connection.send(try Self.requests(0..<1, to: target), timeout: .seconds(10)) == [.answered(200)])
        #expect(await connection.send(try Self.requests(1..<3, to: target), timeout: .seconds(10)) == [.answered(200), .answered(200)])
        #expect(target.seen.map(\.body) == ["job 0", "job 1", "job 1", "job 2"])
        #expect(target.seen.map(\.connection) == [0, 0, 1, 1])
        connection.close()
        await target.shutdown()
    }

    @Test func aTargetThatClosesAfterEveryAnswerGetsOneRequestPerConnection() async throws {
        // Learnt from the first close: the rest go one per connection instead of the whole
        // remainder again after each answer.
        let target = try await FakePipelinedTarget { _ in .status(200, .announced) }
        let connection = try PipelinedConnection(url: target.url)
        let outcomes = await connection.send(try Self.requests(0..<6, to: target), timeout: .seconds(10))
        #expect(outcomes == Array(repeating: .answered(200), count: 6))
        #expect(target.seen.map(\.body) == Self.bodies(0..<6))
        #expect(target.seen.map(\.connection) == Array(0..<6))
        connection.close()
        await target.shutdown()
    }

    @Test func cancellingTheTaskEndsTheWait() async throws {
        let target = try await FakePipelinedTarget { _ in .silence }
        let connection = try PipelinedConnection(url: target.url)
        let requests = try Self.requests(0..<2, to: target)
        let sending = Task { await connection.send(requests, timeout: .seconds(50)) }
        try #require(await waitUntil(timeout: .seconds(10)) { target.seen.count == 1 })
        sending.cancel()
        let outcomes = await sending.value
        #expect(outcomes.count == 2)
        #expect(outcomes.allSatisfy { Self.isUnanswered($0, because: "cancelled") }, "\(outcomes)")
        await target.shutdown()
    }

    @Test func bytesARequestLineMayNotCarryArePercentEncoded() async throws {
        #expect(ForwardRequest.requestTarget("/cb?a=1&b=%20x") == "/cb?a=1&b=%20x")
        #expect(ForwardRequest.requestTarget("/cb?n=ü|{x} \"") == "/cb?n=%C3%BC%7C%7Bx%7D%20%22")
        let target = try await FakePipelinedTarget()
        let connection = try PipelinedConnection(url: target.url)
        let uri = ForwardRequest.requestTarget("/hook?name=ü|x")
        #expect(await connection.send([(uri, HTTPHeaders(), ByteBuffer(string: "job"))], timeout: .seconds(10)) == [.answered(200)])
        #expect(target.seen.map(\.uri) == ["/hook?name=%C3%BC%7Cx"])
        connection.close()
        await target.shutdown()
    }

    @Test func aTargetThatIsNotListeningLeavesEveryRequestUnanswered() async throws {
        let target = try await FakePipelinedTarget()
        let url = target.url
        let requests = try Self.requests(0..<3, to: target)
        await target.shutdown()
        let outcomes = await (try PipelinedConnection(url: url)).send(requests, timeout: .seconds(5))
        #expect(outcomes.count == 3)
        #expect(outcomes.allSatisfy { if case .unanswered(let reason) = $0 { reason.hasPrefix("cannot connect") } else { false } }, "\(outcomes)")
    }

    @Test(arguments: [
        ("http://backend.internal/cb?x=1", "backend.internal", 80, "backend.internal", "/cb?x=1"),
        ("https://backend.internal:8443", "backend.internal", 8443, "backend.internal:8443", "/"),
        ("http://[::1]:9000/a/b", "::1", 9000, "[::1]:9000", "/a/b"),
        ("https://10.0.0.7?q=1", "10.0.0.7", 443, "10.0.0.7", "/?q=1"),
    ])
    func endpointsNameTheAddressAndTheRequestTarget(url: String, host: String, port: Int, hostHeader: String, requestTarget: String) throws {
        let endpoint = try PipelinedConnection.Endpoint(url: url)
        #expect(endpoint.host == host)
        #expect(endpoint.port == port)
        #expect(endpoint.hostHeader == hostHeader)
        #expect(endpoint.requestTarget == requestTarget)
        #expect(endpoint.serverName == (host.first!.isLetter ? host : nil))
    }
}
