import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import SubscriberSync
@testable import TencentSimulator

/// The URL checks: what Tencent refuses, the simulator refuses, with Tencent's codes.
@Suite("Simulator: authentication and request checks")
struct SimulatorAuthTests {
    let clock = FakeClock(milliseconds: 1_700_000_000_000)
    typealias Code = TencentSimulator.ErrorCode

    func makeSimulator() -> TencentSimulator {
        let simulator = SimFixture.simulator(clock: clock)
        simulator.seed(account: SimFixture.account, count: 3)
        return simulator
    }

    @Test("a valid admin call is answered OK")
    func validCall() async throws {
        let simulator = makeSimulator()
        try await simulator.testApplication().test(.router) { client async throws in
            let answer = try await client.page(simulator, clock: clock)
            #expect(answer.isOK, "\(answer.text)")
            #expect(answer.contentType == "application/json")
            #expect(try answer.page().subscribers.count == 3)
        }
        #expect(simulator.stats.acceptedCalls == 1)
    }

    @Test("every refusal code, and refused calls are not accepted")
    func refusals() async throws {
        let simulator = makeSimulator()
        let now = clock.nowMilliseconds() / 1000
        let good = try SimFixture.userSig(clock: clock)
        let expired = try SimFixture.userSig(clock: clock, expire: 86_400, now: now - 86_401)
        let otherKey = try SimFixture.userSig(clock: clock, key: "0000000000000000000000000000000000000000000000000000000000000000")
        let otherApp = try SimFixture.userSig(clock: clock, sdkAppID: 1_400_000_001)
        let forBob = try SimFixture.userSig(clock: clock, identifier: "bob")
        // A forged sig: the admin's JSON with a made-up HMAC, compressed and encoded like the real thing.
        var forgedJSON = JSONObjectWriter()
        forgedJSON.string("TLS.ver", "2.0")
        forgedJSON.string("TLS.identifier", SimFixture.admin)
        forgedJSON.int("TLS.sdkappid", Int64(SimFixture.sdkAppID))
        forgedJSON.int("TLS.expire", 86_400)
        forgedJSON.int("TLS.time", now)
        forgedJSON.string("TLS.sig", Data(repeating: 7, count: 32).base64EncodedString())
        let forged = String(Data(try Zlib.compress(forgedJSON.finished())).base64EncodedString()
            .map { $0 == "+" ? "*" : $0 == "/" ? "-" : $0 == "=" ? "_" : $0 })

        let cases: [(String, String, Int)] = [
            ("sdkappid missing", SimFixture.query(sdkappid: nil, usersig: good), Code.sdkAppIDMissing),
            ("sdkappid empty", SimFixture.query(sdkappid: "", usersig: good), Code.sdkAppIDMissing),
            ("sdkappid not a number", SimFixture.query(sdkappid: "14x", usersig: good), Code.sdkAppIDInvalid),
            ("sdkappid of another app", SimFixture.query(sdkappid: "1400000001", usersig: good), Code.sdkAppIDNotFound),
            ("random missing", SimFixture.query(usersig: good, random: nil), Code.httpParse),
            ("random above uint32", SimFixture.query(usersig: good, random: "4294967296"), Code.httpParse),
            ("random negative", SimFixture.query(usersig: good, random: "-1"), Code.httpParse),
            ("random not a number", SimFixture.query(usersig: good, random: "abc"), Code.httpParse),
            ("contenttype missing", SimFixture.query(usersig: good, contenttype: nil), Code.httpParse),
            ("contenttype not json", SimFixture.query(usersig: good, contenttype: "xml"), Code.httpParse),
            ("identifier missing", SimFixture.query(identifier: nil, usersig: good), Code.identifierMissing),
            ("usersig missing", SimFixture.query(usersig: nil), Code.userSigEmpty),
            ("usersig empty", SimFixture.query(usersig: ""), Code.userSigEmpty),
            ("usersig garbage", SimFixture.query(usersig: "not-a-usersig"), Code.userSigUndecodable),
            ("usersig truncated", SimFixture.query(usersig: String(good.prefix(good.count / 2))), Code.userSigUndecodable),
            ("usersig expired", SimFixture.query(usersig: expired), Code.userSigExpired),
            ("usersig forged", SimFixture.query(usersig: forged), Code.userSigWrongKey),
            ("usersig under another key", SimFixture.query(usersig: otherKey), Code.userSigWrongKey),
            ("usersig of another sdkappid", SimFixture.query(usersig: otherApp), Code.sdkAppIDMismatch),
            ("usersig of another identifier", SimFixture.query(usersig: forBob), Code.identifierMismatch),
            ("valid usersig of a non-admin", SimFixture.query(identifier: "bob", usersig: forBob), Code.notAdmin),
        ]
        try await simulator.testApplication().test(.router) { client async throws in
            for (name, query, code) in cases {
                let answer = try await client.post(SimFixture.subscriberPath, query: query, body: SimFixture.body())
                #expect(answer.isRefusal(code), "\(name): \(answer.status) \(answer.text)")
                #expect(!answer.text.contains(SimFixture.key), "\(name): the key leaked")
                // The client's envelope type reads it.
                #expect(try answer.envelope().errorCode == code, "\(name)")
            }
        }
        let stats = simulator.stats
        #expect(stats.acceptedCalls == 0)
        #expect(stats.errorCodes.values.reduce(0, +) == cases.count)
        #expect(stats.errorCodes[Code.userSigWrongKey] == 2)
    }

    @Test("a UserSig expires at TLS.time + TLS.expire, not before")
    func expiryBoundary() async throws {
        let simulator = makeSimulator()
        let sig = try SimFixture.userSig(clock: clock, expire: 100)
        try await simulator.testApplication().test(.router) { client async throws in
            clock.advance(milliseconds: 100_000)
            #expect(try await client.post(SimFixture.subscriberPath, query: SimFixture.query(usersig: sig), body: SimFixture.body()).isOK)
            clock.advance(milliseconds: 1_000)
            let answer = try await client.post(SimFixture.subscriberPath, query: SimFixture.query(usersig: sig), body: SimFixture.body())
            #expect(answer.isRefusal(Code.userSigExpired), "\(answer.text)")
        }
    }

    @Test("UserSigs made by Tencent's Python and Node libraries (recorded vectors) are accepted")
    func officialVectorsAccepted() async throws {
        // Both recorded sigs are for "administrator" at 1700000000, valid 180 days.
        let clock = FakeClock(milliseconds: 1_700_000_100_000)
        let simulator = SimFixture.simulator(clock: clock)
        simulator.seed(account: SimFixture.account, count: 1)
        let python = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkElNyM-Myi0uKEkvyi2BKilOyEwsKMlOACgxNDKAAKpdaUZBZlAqSMTU1NUKIl2TmgkXN0dQXZ6aD7PFyrqpIzHOz8AsJiUgsNcnVNsqwLC8zT4-0yqv0yy7ONajINfRzjQg1MjexVaoFANTGNgc_"
        let node = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokpuZl5mcUlRYkl*UVQBcUp2YkFBZkpSlaGJgZQAJEpycxNBYqao4qmVhRkFoHETU1NjeCixZnpQPO9nKsqEvPcLPxCQiISS01ytY0yLMvLzNMjvfIq-bKLcw0qcg39XCNCjcxNbJVqAUK*NKc_"
        try await simulator.testApplication().test(.router) { client async throws in
            for sig in [python, node] {
                let answer = try await client.post(SimFixture.subscriberPath, query: SimFixture.query(usersig: sig), body: SimFixture.body())
                #expect(answer.isOK, "\(answer.text)")
            }
            // The same Python sig for "xiaojun" is valid but xiaojun is not the admin.
            let xiaojun = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpYJkTE1NjRDiJZm5YFFzNPXFmekgG3zKHM1T9D3LzdODi-OKs8vCqpxcAvydnV2SSv2cy03cPcpDnA2SMgu0nUxslWoBHdYzUg__"
            let answer = try await client.post(SimFixture.subscriberPath, query: SimFixture.query(identifier: "xiaojun", usersig: xiaojun), body: SimFixture.body())
            #expect(answer.isRefusal(Code.notAdmin), "\(answer.text)")
        }
    }

    @Test("body checks: not JSON, not an object → 60003; bad parameters → 6017")
    func bodyChecks() async throws {
        let simulator = makeSimulator()
        let cases: [(String, Int)] = [
            ("", Code.requestJSON),
            ("{\"Official_Account\":", Code.requestJSON),
            ("[]", Code.requestJSON),
            ("\"text\"", Code.requestJSON),
            ("{}", Code.invalidParameter),
            (#"{"Official_Account":42,"Limit":200,"Next":""}"#, Code.invalidParameter),
            (#"{"Official_Account":"","Limit":200,"Next":""}"#, Code.invalidParameter),
            (#"{"Official_Account":"@TOA#_test_for_penn","Limit":200}"#, Code.invalidParameter),
            (#"{"Official_Account":"@TOA#_test_for_penn","Limit":200,"Next":null}"#, Code.invalidParameter),
            (#"{"Official_Account":"@TOA#_test_for_penn","Limit":201,"Next":""}"#, Code.invalidParameter),
            (#"{"Official_Account":"@TOA#_test_for_penn","Limit":0,"Next":""}"#, Code.invalidParameter),
            (#"{"Official_Account":"@TOA#_test_for_penn","Limit":-5,"Next":""}"#, Code.invalidParameter),
            (#"{"Official_Account":"@TOA#_test_for_penn","Limit":"200","Next":""}"#, Code.invalidParameter),
            (#"{"Official_Account":"@TOA#_test_for_penn","Limit":2.5,"Next":""}"#, Code.invalidParameter),
            (#"{"Official_Account":"@TOA#_nobody","Limit":200,"Next":""}"#, Code.unknownAccount),
        ]
        let query = SimFixture.query(usersig: try SimFixture.userSig(clock: clock))
        try await simulator.testApplication().test(.router) { client async throws in
            for (body, code) in cases {
                let answer = try await client.post(SimFixture.subscriberPath, query: query, body: body)
                #expect(answer.isRefusal(code), "\(body): \(answer.text)")
            }
            // Limit may be left out (Tencent's default), and 1 and 200 are fine.
            for body in [#"{"Official_Account":"@TOA#_test_for_penn","Next":""}"#,
                         #"{"Official_Account":"@TOA#_test_for_penn","Limit":1,"Next":""}"#,
                         #"{"Official_Account":"@TOA#_test_for_penn","Limit":200,"Next":"","Extra":true}"#] {
                let answer = try await client.post(SimFixture.subscriberPath, query: query, body: body)
                #expect(answer.isOK, "\(body): \(answer.text)")
            }
        }
    }

    @Test("unknown commands under /v4 → 60009; GET on a command → 60002")
    func paths() async throws {
        let simulator = makeSimulator()
        let query = SimFixture.query(usersig: try SimFixture.userSig(clock: clock))
        try await simulator.testApplication().test(.router) { client async throws in
            let unknown = try await client.post("/v4/official_account_open_http_svc/get_subscriber_list", query: query, body: "{}")
            #expect(unknown.isRefusal(Code.unknownPath), "\(unknown.text)")
            let otherService = try await client.post("/v4/openim/sendmsg", query: query, body: "{}")
            #expect(otherService.isRefusal(Code.unknownPath), "\(otherService.text)")
            let get = try await client.execute(uri: "\(SimFixture.subscriberPath)?\(query)", method: .get) { SimAnswer($0) }
            #expect(get.isRefusal(Code.httpParse), "\(get.text)")
        }
        #expect(simulator.stats.acceptedCalls == 0)
    }
}
