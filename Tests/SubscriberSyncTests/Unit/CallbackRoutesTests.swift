import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
@testable import SubscriberSync

/// The router in-process: answers, status codes and what reaches the store.
@Suite struct CallbackRoutesTests {
    let directory: TemporaryDirectory
    let clock = FakeClock(milliseconds: 1_669_872_112_000)

    init() throws { directory = try TemporaryDirectory() }

    func makeApp(token: String? = "xxxxyyyy") async throws -> SubscriberSyncApp {
        var flags: [ServiceSettings.Key: [String]] = [.sdkappid: ["1400000000"], .database: [directory.file("db.sqlite")]]
        var environment: [String: String] = [:]
        if let token { environment["TENCENT_CALLBACK_TOKEN"] = token }
        flags[.listen] = ["127.0.0.1:0"]
        let settings = try await ServiceSettings.load(flags: flags, configFile: nil, environment: environment)
        return SubscriberSyncApp(settings: settings, logger: Logger(label: "test"), clock: clock, sink: { MemoryEventSink() })
    }

    static let signedQuery = "SdkAppid=1400000000&Sign=17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061&RequestTime=1669872112"

    /// Subscribed, across accounts: what is committed at this point.
    func subscriberCount(_ app: SubscriberSyncApp) async throws -> Int {
        try await app.storage.subscriberCounts().values.reduce(0, +)
    }

    @Test func acceptedCallbackIsCommittedBeforeTheAck() async throws {
        let app = try await makeApp()
        let body = try Resources.data("webhook-after-add-subscriber.request.json")
        try await Application(router: app.router()).test(.router) { client in
            try await client.execute(uri: "/tencent/callback?\(Self.signedQuery)", method: .post, body: ByteBuffer(bytes: body)) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#)
                #expect(response.headers[.contentType] == "application/json")
            }
        }
        #expect(try await subscriberCount(app) == 2)
    }

    @Test func refusalsAnswerFailJSONAndStoreNothing() async throws {
        let app = try await makeApp()
        let body = ByteBuffer(bytes: try Resources.data("webhook-after-add-subscriber.request.json"))
        let cases: [(String, ByteBuffer, HTTPResponse.Status)] = [
            ("SdkAppid=1&Sign=x&RequestTime=1", body, .forbidden),
            ("SdkAppid=1400000000", body, .unauthorized),
            ("SdkAppid=1400000000&Sign=\(String(repeating: "a", count: 64))&RequestTime=1669872112", body, .unauthorized),
            (Self.signedQuery, ByteBuffer(string: "{\"CallbackCommand\":"), .badRequest),
            (Self.signedQuery, ByteBuffer(repeating: UInt8(ascii: " "), count: CallbackHandler.maxBodyBytes + 1), .contentTooLarge),
        ]
        try await Application(router: app.router()).test(.router) { client in
            for (query, body, status) in cases {
                try await client.execute(uri: "/tencent/callback?\(query)", method: .post, body: body) { response in
                    #expect(response.status == status, "\(query)")
                    let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                    #expect(json["ActionStatus"] as? String == "FAIL")
                    #expect(json["ErrorCode"] as? Int == Int(status.code))
                    #expect((json["ErrorInfo"] as? String)?.isEmpty == false)
                    #expect(!String(buffer: response.body).contains("xxxxyyyy"))
                }
            }
        }
        #expect(try await subscriberCount(app) == 0)
    }

    @Test func staleRequestTimeIsRefused() async throws {
        let app = try await makeApp()
        clock.advance(milliseconds: 61_000)
        try await Application(router: app.router()).test(.router) { client in
            try await client.execute(uri: "/tencent/callback?\(Self.signedQuery)", method: .post,
                                     body: ByteBuffer(bytes: try Resources.data("webhook-after-add-subscriber.request.json"))) { response in
                #expect(response.status == .unauthorized)
            }
        }
        #expect(try await subscriberCount(app) == 0)
    }

    @Test func beforeAddAndOtherCommandsAreAnsweredWithoutStoring() async throws {
        let app = try await makeApp(token: nil)
        try await Application(router: app.router()).test(.router) { client in
            for name in ["webhook-before-add-subscriber.request.json", "webhook-after-send-msg.request.json", "webhook-alert-request-over-limit.request.json"] {
                try await client.execute(uri: "/tencent/callback?SdkAppid=1400000000", method: .post, body: ByteBuffer(bytes: try Resources.data(name))) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body).contains(#""ErrorCode":0"#))
                }
            }
            try await client.execute(uri: "/tencent/callback?SdkAppid=1400000000&CallbackCommand=C2C.CallbackAfterSendMsg", method: .post,
                                     body: ByteBuffer(string: #"{"From_Account":"a"}"#)) { response in
                #expect(response.status == .ok)
            }
        }
        #expect(try await subscriberCount(app) == 0)
        #expect(try await app.storage.emitterProgress().newest == 0)
    }

    @Test func healthAndReadiness() async throws {
        let app = try await makeApp()
        try await Application(router: app.router()).test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        }
        // An event recorded long ago and never written out: the emitter is behind.
        clock.advance(milliseconds: -60_000)
        try await app.storage.apply(.subscribers(SubscriberFacts(.subscribed, account: "@TOA#_a", subscribers: ["u"], version: 1)))
        clock.advance(milliseconds: 60_000)
        try await Application(router: app.router()).test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }
        }
    }
}
