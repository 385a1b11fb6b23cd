import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

/// Refused callbacks store nothing, emit nothing, and leave the service up.
@Suite("Integration: refused inputs", .timeLimit(.minutes(3)))
struct IntegrationRefusedInputTests {
    static let add = IntegrationDefaults.addCommand
    static let delete = IntegrationDefaults.deleteCommand
    static let account = IntegrationDefaults.account
    static let t0 = IntegrationDefaults.baseEventTime

    struct RefusalCase: Sendable {
        var name: String
        var query: [(String, String)]
        var body: [UInt8]
        var expectedStatus: Int
    }

    static func body(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Bodies for AfterAddSubscriber that are not acceptable, with why.
    static let malformedAddBodies: [(String, String)] = [
        ("empty body", ""),
        ("not JSON", "this is not json"),
        ("truncated JSON", #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_x""#),
        ("JSON array", #"[{"Official_Account":"@TOA#_x"}]"#),
        ("empty JSON array", "[]"),
        ("JSON null", "null"),
        ("JSON number", "42"),
        ("JSON string", #""hello""#),
        ("empty object", "{}"),
        ("missing Official_Account", #"{"SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":1700000000000}"#),
        ("missing SubscribeAccountList", #"{"Official_Account":"@TOA#_x","EventTime":1700000000000}"#),
        ("missing EventTime", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":"alice"}]}"#),
        ("EventTime as string", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":"1700000000000"}"#),
        ("EventTime as fraction", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":1.5}"#),
        ("EventTime as bool", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":true}"#),
        ("EventTime null", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":null}"#),
        ("EventTime zero", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":0}"#),
        ("EventTime negative", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":-5}"#),
        ("EventTime past year 9999", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":253402300800000}"#),
        ("EventTime beyond Int64", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":99999999999999999999999}"#),
        ("Official_Account as number", #"{"Official_Account":12345,"SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":1700000000000}"#),
        ("Official_Account empty", #"{"Official_Account":"","SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":1700000000000}"#),
        ("Official_Account null", #"{"Official_Account":null,"SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":1700000000000}"#),
        ("Operator_Account as number", #"{"Official_Account":"@TOA#_x","Operator_Account":7,"SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":1700000000000}"#),
        ("SubscribeAccountList as object", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":{"Subscriber_Account":"alice"},"EventTime":1700000000000}"#),
        ("SubscribeAccountList as string", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":"alice","EventTime":1700000000000}"#),
        ("SubscribeAccountList null", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":null,"EventTime":1700000000000}"#),
        ("entry without Subscriber_Account", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{}],"EventTime":1700000000000}"#),
        ("entry with another key", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber":"alice"}],"EventTime":1700000000000}"#),
        ("valid entry then entry without Subscriber_Account", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":"alice"},{"Other":"bob"}],"EventTime":1700000000000}"#),
        ("Subscriber_Account as number", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":42}],"EventTime":1700000000000}"#),
        ("Subscriber_Account null", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":null}],"EventTime":1700000000000}"#),
        ("Subscriber_Account empty", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":""}],"EventTime":1700000000000}"#),
        ("Subscriber_Account of 300 bytes", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":""# + String(repeating: "a", count: 300) + #""}],"EventTime":1700000000000}"#),
        ("entries are strings", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":["alice"],"EventTime":1700000000000}"#),
        ("entry is null", #"{"Official_Account":"@TOA#_x","SubscribeAccountList":[null],"EventTime":1700000000000}"#),
        ("CallbackCommand as number", #"{"CallbackCommand":1,"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":"alice"}],"EventTime":1700000000000}"#),
    ]

    static func cases(_ callbacks: CallbackClient) -> [RefusalCase] {
        let valid = CallbackBodies.subscribers(command: add, account: account, operatorAccount: "admin",
                                               subscribers: ["alice"], eventTime: t0)
        let now = nowSeconds()
        let token = IntegrationDefaults.token
        func query(sdkAppID: String? = IntegrationDefaults.sdkAppID, command: String = add,
                   sign: String?, requestTime: String?) -> [(String, String)] {
            var query: [(String, String)] = []
            if let sdkAppID { query.append(("SdkAppid", sdkAppID)) }
            query.append(("CallbackCommand", command))
            if let sign { query.append(("Sign", sign)) }
            if let requestTime { query.append(("RequestTime", requestTime)) }
            return query
        }
        func signed(_ time: Int64, token: String = token) -> String { CallbackClient.sign(token: token, requestTime: String(time)) }

        var cases: [RefusalCase] = [
            // 403: another app (checked first, even before the signature).
            RefusalCase(name: "wrong SdkAppid, correctly signed",
                        query: query(sdkAppID: "1400000001", sign: signed(now), requestTime: String(now)), body: valid, expectedStatus: 403),
            RefusalCase(name: "missing SdkAppid", query: query(sdkAppID: nil, sign: signed(now), requestTime: String(now)), body: valid, expectedStatus: 403),
            RefusalCase(name: "empty SdkAppid", query: query(sdkAppID: "", sign: signed(now), requestTime: String(now)), body: valid, expectedStatus: 403),
            RefusalCase(name: "wrong SdkAppid and unsigned", query: query(sdkAppID: "1", sign: nil, requestTime: nil), body: valid, expectedStatus: 403),
            // 401: signature.
            RefusalCase(name: "no Sign", query: query(sign: nil, requestTime: String(now)), body: valid, expectedStatus: 401),
            RefusalCase(name: "no RequestTime", query: query(sign: signed(now), requestTime: nil), body: valid, expectedStatus: 401),
            RefusalCase(name: "neither Sign nor RequestTime", query: query(sign: nil, requestTime: nil), body: valid, expectedStatus: 401),
            RefusalCase(name: "Sign made with another token",
                        query: query(sign: signed(now, token: "not-the-token"), requestTime: String(now)), body: valid, expectedStatus: 401),
            RefusalCase(name: "Sign of another RequestTime",
                        query: query(sign: signed(now - 1), requestTime: String(now)), body: valid, expectedStatus: 401),
            RefusalCase(name: "Sign is garbage", query: query(sign: "zz", requestTime: String(now)), body: valid, expectedStatus: 401),
            RefusalCase(name: "Sign empty", query: query(sign: "", requestTime: String(now)), body: valid, expectedStatus: 401),
            RefusalCase(name: "Sign truncated", query: query(sign: String(signed(now).dropLast()), requestTime: String(now)), body: valid, expectedStatus: 401),
            RefusalCase(name: "Sign of the token alone", query: query(sign: CallbackClient.sign(token: token, requestTime: ""), requestTime: String(now)),
                        body: valid, expectedStatus: 401),
            // 401: freshness (correctly signed, outside the 60 s window).
            RefusalCase(name: "RequestTime 120 s old", query: query(sign: signed(now - 120), requestTime: String(now - 120)), body: valid, expectedStatus: 401),
            RefusalCase(name: "RequestTime an hour old", query: query(sign: signed(now - 3600), requestTime: String(now - 3600)), body: valid, expectedStatus: 401),
            RefusalCase(name: "RequestTime 120 s ahead", query: query(sign: signed(now + 120), requestTime: String(now + 120)), body: valid, expectedStatus: 401),
            RefusalCase(name: "RequestTime zero", query: query(sign: signed(0), requestTime: "0"), body: valid, expectedStatus: 401),
            RefusalCase(name: "RequestTime not a number",
                        query: query(sign: CallbackClient.sign(token: token, requestTime: "soon"), requestTime: "soon"), body: valid, expectedStatus: 401),
            RefusalCase(name: "RequestTime in milliseconds",
                        query: query(sign: signed(now * 1000), requestTime: String(now * 1000)), body: valid, expectedStatus: 401),
            // Order: signature before body.
            RefusalCase(name: "forged Sign and malformed body",
                        query: query(sign: signed(now, token: "x"), requestTime: String(now)), body: body("[]"), expectedStatus: 401),
        ]
        for (name, text) in malformedAddBodies {
            cases.append(RefusalCase(name: "AfterAddSubscriber: \(name)", query: callbacks.signedQuery(command: add), body: body(text), expectedStatus: 400))
        }
        for (name, text) in malformedAddBodies.prefix(20) {
            let text = text.replacingOccurrences(of: add, with: delete)
            cases.append(RefusalCase(name: "AfterDeleteSubscriber: \(name)", query: callbacks.signedQuery(command: delete), body: body(text), expectedStatus: 400))
        }
        cases += [
            RefusalCase(name: "AfterOfficialAccountDestroyed without Official_Account",
                        query: callbacks.signedQuery(command: IntegrationDefaults.destroyedCommand),
                        body: body(#"{"Owner_Account":"o","EventTime":1700000000000}"#), expectedStatus: 400),
            RefusalCase(name: "AfterOfficialAccountDestroyed with EventTime as string",
                        query: callbacks.signedQuery(command: IntegrationDefaults.destroyedCommand),
                        body: body(#"{"Official_Account":"@TOA#_integration","EventTime":"1700000000000"}"#), expectedStatus: 400),
            RefusalCase(name: "invalid UTF-8 inside a string",
                        query: callbacks.signedQuery(command: add),
                        body: body(#"{"Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":""#) + [0xC3, 0x28, 0xFF]
                            + body(#""}],"EventTime":1700000000000}"#), expectedStatus: 400),
            // 413: over 1 MiB (declared with Content-Length).
            RefusalCase(name: "body of 1 MiB + 1 byte", query: callbacks.signedQuery(command: add),
                        body: [UInt8](repeating: UInt8(ascii: " "), count: (1 << 20) + 1), expectedStatus: 413),
            RefusalCase(name: "valid JSON padded past 1 MiB", query: callbacks.signedQuery(command: add),
                        body: valid + [UInt8](repeating: UInt8(ascii: " "), count: 1 << 20), expectedStatus: 413),
        ]
        return cases
    }

    static func check(_ reply: CallbackReply, expectedStatus: Int, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status < 500, "\(name): server error \(reply)", sourceLocation: sourceLocation)
        #expect(reply.status == expectedStatus, "\(name): expected HTTP \(expectedStatus), got \(reply)", sourceLocation: sourceLocation)
        #expect(reply.isWellFormedRefusal, "\(name): not a JSON FAIL answer with a non-zero ErrorCode: \(reply)", sourceLocation: sourceLocation)
        #expect(reply.contentType?.hasPrefix("application/json") == true, "\(name): Content-Type \(reply.contentType ?? "none")",
                sourceLocation: sourceLocation)
    }

    /// A body streamed in chunks without Content-Length (chunked transfer encoding).
    static func chunkedBody(totalBytes: Int, chunk: Int = 64 * 1024) -> HTTPClientRequest.Body {
        let stream = AsyncStream<ByteBuffer> { continuation in
            var remaining = totalBytes
            while remaining > 0 {
                let size = min(chunk, remaining)
                continuation.yield(ByteBuffer(repeating: UInt8(ascii: " "), count: size))
                remaining -= size
            }
            continuation.finish()
        }
        return .stream(stream, length: .unknown)
    }

    @Test("refused callbacks answer FAIL JSON, store nothing, emit nothing, and the service stays up")
    func refusalsStoreNothing() async throws {
        try await withSandbox { sandbox in
            let service = try await sandbox.startService()
            let callbacks = service.callbacks()

            var count = 0
            // Made afresh for each request: on a loaded machine the whole list takes longer than
            // the RequestTime window, and a valid case signed at the start would expire.
            for index in Self.cases(callbacks).indices {
                let refusal = Self.cases(callbacks)[index]
                let reply = try await callbacks.post(query: refusal.query, body: refusal.body)
                Self.check(reply, expectedStatus: refusal.expectedStatus, refusal.name)
                count += 1
            }

            // Over 1 MiB without a Content-Length: the limit must hold while collecting.
            let chunked = try await callbacks.post(query: callbacks.signedQuery(command: Self.add),
                                                   body: Self.chunkedBody(totalBytes: 2 << 20))
            Self.check(chunked, expectedStatus: 413, "chunked body of 2 MiB")

            // Several hundred random byte strings, correctly signed as AfterAddSubscriber.
            var generator = SeededGenerator(seed: 0x5EED_CAFE)
            for index in 0..<400 {
                let length = Int.random(in: 0...4096, using: &generator)
                let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let reply = try await callbacks.post(query: callbacks.signedQuery(command: Self.add), body: bytes)
                Self.check(reply, expectedStatus: 400, "random body #\(index) (\(length) bytes)")
                count += 1
            }
            #expect(count > 400)

            // Still up and healthy.
            #expect(service.isRunning, "the service died: \(service.exitDescription())\n\(service.stderrText())")
            let health = try await callbacks.get("/healthz")
            #expect(health.status == 200)
            let ready = try await callbacks.get("/readyz")
            #expect(ready.status == 200, "readyz: \(ready.body)")

            // Nothing stored.
            let export = try await sandbox.export()
            #expect(export.exit == .exited(0), "export: \(export.stderr)")
            #expect(export.stdout.isEmpty, "export after refusals: \(export.stdout)")

            // Nothing emitted, even after a graceful stop that flushes everything.
            #expect(try await service.terminate() == .exited(0))
            let events = EventFile.read(service.eventsPath)
            #expect(events.bytes.isEmpty, "events after refusals: \(events.lines)")
        }
    }

    @Test("a body of exactly 1 MiB is accepted")
    func bodyOfExactlyOneMebibyte() async throws {
        try await withSandbox { sandbox in
            let service = try await sandbox.startService()
            let callbacks = service.callbacks()
            let valid = CallbackBodies.subscribers(command: Self.add, account: Self.account, operatorAccount: nil,
                                                   subscribers: ["alice"], eventTime: Self.t0)
            let padded = valid + [UInt8](repeating: UInt8(ascii: " "), count: (1 << 20) - valid.count)
            #expect(padded.count == 1 << 20)
            let reply = try await callbacks.post(query: callbacks.signedQuery(command: Self.add), body: padded)
            #expect(reply.isOK, "\(reply)")
            let records = try await sandbox.export().records()
            #expect(records == [ExportRecord(officialAccount: Self.account, subscriber: "alice", since: Self.t0)])
        }
    }

    @Test("a correctly signed RequestTime at the edges of Int64 is refused as stale, and the service stays up",
          arguments: ["-9223372036854775808", "-9223372036854775807", "9223372036854775807", "-1"])
    func extremeRequestTime(requestTime: String) async throws {
        try await withSandbox { sandbox in
            let service = try await sandbox.startService()
            let callbacks = service.callbacks()
            let valid = CallbackBodies.subscribers(command: Self.add, account: Self.account, operatorAccount: nil,
                                                   subscribers: ["alice"], eventTime: Self.t0)
            let query = [("SdkAppid", IntegrationDefaults.sdkAppID), ("CallbackCommand", Self.add),
                         ("Sign", CallbackClient.sign(token: IntegrationDefaults.token, requestTime: requestTime)),
                         ("RequestTime", requestTime)]
            do {
                let reply = try await callbacks.post(query: query, body: valid)
                Self.check(reply, expectedStatus: 401, "RequestTime \(requestTime)")
            } catch {
                Issue.record("no answer for RequestTime \(requestTime): \(error)")
            }
            // A later request answered is the proof that the service outlived this one.
            let health = try? await callbacks.get("/healthz")
            #expect(health?.status == 200, "no health answer after RequestTime \(requestTime)")
            #expect(service.isRunning, "RequestTime \(requestTime) brought the service down: \(service.exitDescription())\n\(service.stderrText().suffix(2000))")
            #expect(try await sandbox.export().stdout.isEmpty)
        }
    }
}
