import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import Testing
@testable import SubscriberSync
@testable import TencentSimulator

/// `run(host:port:)`, as `subscriber-sync simulator` uses it: port 0, the bound port reported,
/// a real client paging through it, cancellation stops it.
@Suite("Simulator: server")
struct SimulatorServerTests {
    @Test("run on port 0 reports the bound port, serves AsyncHTTPClient, stops when cancelled")
    func runAndCancel() async throws {
        var quiet = Logger(label: "simulator-test")
        quiet.logLevel = .critical
        let simulator = TencentSimulator(sdkAppID: SimFixture.sdkAppID, adminIdentifier: SimFixture.admin, secretKey: SimFixture.key, logger: quiet)
        simulator.seed(account: SimFixture.account, count: 450)
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let server = Task {
            try await simulator.run(host: "127.0.0.1", port: 0) { _, port in portSink.yield(port) }
        }
        defer { server.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        #expect(port > 0)

        let base = "http://127.0.0.1:\(port)\(SimFixture.subscriberPath)"
        var next = ""
        var seen: [String] = []
        repeat {
            let query = SimFixture.query(usersig: try simulator.makeUserSig(), random: String(UInt32.random(in: 0...UInt32.max)))
            var request = HTTPClientRequest(url: "\(base)?\(query)")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(GetSubscriberInfoRequest(officialAccount: SimFixture.account, next: next))))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            #expect(response.status == .ok)
            let page = try JSONDecoder().decode(SubscriberPage.self, from: Data(buffer: try await response.body.collect(upTo: 1 << 20)))
            seen += page.subscribers.map(\.account)
            next = try #require(page.next)
        } while !next.isEmpty
        #expect(seen == (0..<450).map { TencentSimulator.seededAccount(prefix: "user", index: $0) })

        server.cancel()
        let outcome = await server.result
        #expect(throws: Never.self) { try outcome.get() }
    }
}
