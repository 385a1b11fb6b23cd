import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
@testable import SubscriberSync
@testable import TencentSimulator

/// Signed callbacks, received by a tiny Hummingbird server in the test.
@Suite("Simulator: callbacks")
struct SimulatorCallbackTests {
    static let token = "xxxxyyyy"

    /// What the receiving server saw.
    final class Inbox: Sendable {
        struct Received: Sendable {
            var path: String
            var query: [String: String]
            var body: [UInt8]
            var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
        }
        let received = Mutex<[Received]>([])
        var all: [Received] { received.withLock { $0 } }

        func router() -> Router<BasicRequestContext> {
            let router = Router()
            router.post("/tencent/callback") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 1 << 20)
                var query: [String: String] = [:]
                for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
                self.received.withLock { $0.append(Received(path: request.uri.path, query: query, body: Array(body.readableBytesView))) }
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#)))
            }
            return router
        }
    }

    /// Runs `body` with a live receiver and a sender pointing at it.
    func withReceiver(token: String? = token, _ body: @Sendable (Inbox, CallbackSender) async throws -> Void) async throws {
        let inbox = Inbox()
        let app = Application(router: inbox.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client async throws in
            let port = try #require(client.port)
            // Tencent's 2 s would be flaky on a machine busy with the rest of the suite.
            let sender = CallbackSender(url: "http://127.0.0.1:\(port)/tencent/callback", sdkAppID: SimFixture.sdkAppID, token: token,
                                        timeout: .seconds(20))
            try await body(inbox, sender)
        }
    }

    @Test("a signed callback: query, Sign that CallbackSignature verifies, body the service parses")
    func signedCallback() async throws {
        try await withReceiver { inbox, sender in
            let deliveries = try await sender.subscribersAdded(account: SimFixture.account, subscribers: ["jared", "leckie"], operator: "107867", eventTime: 1_670_574_414_123)
            #expect(deliveries.map(\.status) == [200])
            #expect(deliveries.first?.body == #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#)
            let received = try #require(inbox.all.first)
            #expect(received.path == "/tencent/callback")
            #expect(received.query["SdkAppid"] == "1400000000")
            #expect(received.query["CallbackCommand"] == "OfficialAccount.CallbackAfterAddSubscriber")
            #expect(received.query["contenttype"] == "json")
            #expect(received.query["ClientIP"] == "127.0.0.1")
            #expect(received.query["OptPlatform"] == "RESTAPI")
            let sign = try #require(received.query["Sign"])
            let requestTime = try #require(received.query["RequestTime"])
            #expect(CallbackSignature(token: Self.token).isValid(sign: sign, requestTime: requestTime))
            #expect(!CallbackSignature(token: "other").isValid(sign: sign, requestTime: requestTime))
            #expect(sign == sign.lowercased() && sign.count == 64)
            let seconds = try #require(Int64(requestTime))
            #expect(abs(seconds - SystemWallClock().nowMilliseconds() / 1000) <= 5)
            // The service's own verifier and parser accept it.
            let verifier = CallbackVerifier(sdkAppID: "1400000000", callbackToken: Self.token)
            #expect(throws: Never.self) {
                try verifier.verify(query: CallbackQuery(sdkAppID: received.query["SdkAppid"], callbackCommand: received.query["CallbackCommand"], sign: sign, requestTime: requestTime))
            }
            let command = try CallbackBodyParser().parse(body: ByteBuffer(bytes: received.body), queryCommand: received.query["CallbackCommand"])
            #expect(command == .subscribersAdded(SubscriberCallback(account: SimFixture.account, operatorAccount: "107867", subscribers: ["jared", "leckie"], eventTime: 1_670_574_414_123)))
            // Byte for byte the documented sample, once whitespace is gone.
            let sample = try JSONSerialization.jsonObject(with: Resources.data("webhook-after-add-subscriber.request.json")) as? NSDictionary
            #expect(NSDictionary(dictionary: received.json ?? [:]) == sample)
        }
    }

    @Test("without a token: no Sign, no RequestTime")
    func unsigned() async throws {
        try await withReceiver(token: nil) { inbox, sender in
            try await sender.subscribersDeleted(account: SimFixture.account, subscribers: ["jared"], operator: "jared", eventTime: 1)
            let received = try #require(inbox.all.first)
            #expect(received.query["Sign"] == nil && received.query["RequestTime"] == nil)
            #expect(received.query["CallbackCommand"] == "OfficialAccount.CallbackAfterDeleteSubscriber")
            #expect(received.json?["SubscribeAccountList"] as? [[String: String]] == [["Subscriber_Account": "jared"]])
        }
    }

    @Test("subscribe/unsubscribe change the listing and post only what changed")
    func console() async throws {
        try await withReceiver { inbox, sender in
            let simulator = SimFixture.simulator()
            try await simulator.subscribe(account: SimFixture.account, users: ["alice", "bob"], eventTime: 1_700_000_001_000, notify: sender)
            #expect(simulator.subscribers(of: SimFixture.account)?.map(\.account) == ["alice", "bob"])
            #expect(simulator.subscribers(of: SimFixture.account)?.first?.subscribeTime == 1_700_000_001)
            // Already subscribed: nothing changes, nothing is posted.
            #expect(try await simulator.subscribe(account: SimFixture.account, users: ["alice"], notify: sender).isEmpty)
            try await simulator.unsubscribe(account: SimFixture.account, users: ["bob", "nobody"], eventTime: 1_700_000_002_000, operator: "bob", notify: sender)
            #expect(simulator.subscribers(of: SimFixture.account)?.map(\.account) == ["alice"])
            try await simulator.destroy(account: SimFixture.account, eventTime: 1_700_000_003_000, notify: sender)
            let received = inbox.all
            #expect(received.map { $0.query["CallbackCommand"] } == [
                "OfficialAccount.CallbackAfterAddSubscriber", "OfficialAccount.CallbackAfterDeleteSubscriber",
                "OfficialAccount.CallbackAfterOfficialAccountDestroyed",
            ])
            #expect(received[0].json?["SubscribeAccountList"] as? [[String: String]] == [["Subscriber_Account": "alice"], ["Subscriber_Account": "bob"]])
            #expect(received[0].json?["Operator_Account"] as? String == SimFixture.admin)
            #expect(received[1].json?["SubscribeAccountList"] as? [[String: String]] == [["Subscriber_Account": "bob"]])
            #expect(received[1].json?["Operator_Account"] as? String == "bob")
            #expect(received[1].json?["EventTime"] as? Int64 == 1_700_000_002_000)
            #expect(received[2].json?["Official_Account"] as? String == SimFixture.account)
        }
    }

    @Test("knobs: drop, duplicate, hold and release out of order")
    func knobs() async throws {
        try await withReceiver { inbox, sender in
            sender.plan(.drop)
            try await sender.subscribersAdded(account: SimFixture.account, subscribers: ["a"], operator: "a", eventTime: 1)
            #expect(inbox.all.isEmpty && sender.droppedCount == 1)
            try await sender.subscribersAdded(account: SimFixture.account, subscribers: ["b"], operator: "b", eventTime: 2, mode: .duplicate)
            #expect(inbox.all.count == 2 && inbox.all[0].body == inbox.all[1].body)
            sender.plan(.hold, times: 2)
            try await sender.subscribersAdded(account: SimFixture.account, subscribers: ["c"], operator: "c", eventTime: 3)
            try await sender.subscribersDeleted(account: SimFixture.account, subscribers: ["c"], operator: "c", eventTime: 4)
            #expect(sender.heldCount == 2 && inbox.all.count == 2)
            let released = try await sender.releaseHeld()
            #expect(released.map(\.command) == ["OfficialAccount.CallbackAfterDeleteSubscriber", "OfficialAccount.CallbackAfterAddSubscriber"])
            #expect(inbox.all.suffix(2).map { $0.json?["EventTime"] as? Int64 } == [4, 3])
            #expect(sender.heldCount == 0)
            #expect(sender.deliveries.count == 4)
        }
    }

    @Test("end to end: the console subscribes through the real service, the scan agrees")
    func endToEnd() async throws {
        let directory = try TemporaryDirectory()
        let settings = try await ServiceSettings.load(
            flags: [.sdkappid: ["1400000000"], .database: [directory.file("db.sqlite")], .listen: ["127.0.0.1:0"]],
            configFile: nil, environment: ["TENCENT_CALLBACK_TOKEN": Self.token])
        let service = SubscriberSyncApp(settings: settings, logger: Logger(label: "test"), sink: { MemoryEventSink() })
        // As `run` does before it listens: the first callback must not pay for creating the store
        // within the sender's 2 s (Tencent's timeout).
        try await service.storage.open()
        let simulator = SimFixture.simulator()
        let app = Application(router: service.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client async throws in
            let port = try #require(client.port)
            // Tencent's 2 s is not what this test is about; a loaded test machine can exceed it.
            let sender = CallbackSender(url: "http://127.0.0.1:\(port)/tencent/callback", sdkAppID: SimFixture.sdkAppID, token: Self.token,
                                        timeout: .seconds(15))
            let now = SystemWallClock().nowMilliseconds()
            for (index, user) in ["alice", "bob", "carol"].enumerated() {
                let deliveries = try await simulator.subscribe(account: SimFixture.account, users: [user], eventTime: now + Int64(index), notify: sender)
                #expect(deliveries.map(\.status) == [200], "\(deliveries)")
            }
            let deliveries = try await simulator.unsubscribe(account: SimFixture.account, users: ["bob"], eventTime: now + 10, notify: sender)
            #expect(deliveries.map(\.status) == [200])
            // A wrong token is refused by the service.
            let forger = CallbackSender(url: sender.url, sdkAppID: SimFixture.sdkAppID, token: "wrong", timeout: .seconds(15))
            let forged = try await forger.subscribersAdded(account: SimFixture.account, subscribers: ["mallory"], operator: "mallory", eventTime: now + 20)
            #expect(forged.map(\.status) == [401])
        }
        var stored: [String] = []
        try await service.storage.exportSubscribers(account: nil) { stored.append($0.subscriber) }
        #expect(stored == simulator.subscribers(of: SimFixture.account)?.map(\.account))
        #expect(stored == ["alice", "carol"])
    }
}
