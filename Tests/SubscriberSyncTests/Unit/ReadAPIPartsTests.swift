import Foundation
import Hummingbird
import Testing
@testable import SubscriberSync

@Suite("Read API parts") struct ReadAPIPartsTests {
    @Test(arguments: ["a", "ab", "abc", "u00001", "@TOA#_x/y z", "ünïcödé", "\u{FF}\u{FE}~?>", String(repeating: "long-", count: 40)])
    func cursorsComeBackAsTheSubscriber(subscriber: String) {
        let cursor = ReadCursor.encode(after: subscriber)
        #expect(cursor.utf8.allSatisfy { $0 < 128 && !"+/=%&#?".utf8.contains($0) }, "URL- and JSON-safe: \(cursor)")
        #expect(ReadCursor.decode(cursor) == subscriber)
        let base64 = Data(subscriber.utf8).base64EncodedString()
        #expect(cursor == base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: ""),
                "RFC 4648 base64url without padding")
    }

    @Test(arguments: ["", "%%%", "YQ=", "YQ==", "YR", "YWJ", "YW=j", "not a cursor", "Y", "_-_-_", ReadCursor.encode(after: "a\u{0}b"), ReadCursor.encode(after: "line\nbreak")])
    func cursorsNotOursAreRefused(cursor: String) {
        #expect(ReadCursor.decode(cursor) == nil)
    }

    @Test func subscriberInfoBodiesAreReadAsTencentDocumentsThem() throws {
        func parse(_ text: String) throws(SubscriberInfoQuery.Problem) -> SubscriberInfoQuery { try SubscriberInfoQuery.parse(ByteBuffer(string: text)) }
        #expect(try parse(#"{"Official_Account":"@TOA#_a","Limit":200,"Next":""}"#) == SubscriberInfoQuery(account: "@TOA#_a", limit: 200, after: nil))
        #expect(try parse(#"{"Official_Account":"@TOA#_a"}"#) == SubscriberInfoQuery(account: "@TOA#_a", limit: nil, after: nil))
        let next = ReadCursor.encode(after: "u7")
        #expect(try parse(#"{"Official_Account":"@TOA#_a","Limit":1,"Next":"\#(next)"}"#).after == "u7")
        #expect((try? parse(#"{"Official_Account":"a\u0000b"}"#)) == nil, "a control character is no ID")
        #expect(try parse(#" { "Other" : [ {"x":[1,2.5e3,null]} ] , "Official_Account" : "@TOA#_b" , "Official_Account":"@TOA#_a\u00e9" } "#)
                == SubscriberInfoQuery(account: "@TOA#_aé", limit: nil, after: nil), "unknown members are skipped, escapes read, the last repeat wins")
        for text in ["", "[]", "nope", #""Official_Account""#, "{", #"{"Official_Account":"a"} x"#, #"{"Official_Account":"a",}"#,
                     #"{"Official_Account":"a","Limit":01}"#, "{\"Official_Account\":\"a\u{1}\"}", #"{"Official_Account":"\ud800"}"#] {
            #expect(throws: SubscriberInfoQuery.Problem.notJSON, "\(text)") { try parse(text) }
        }
        for text in [#"{"Limit":5}"#, #"{"Official_Account":""}"#, #"{"Official_Account":7}"#, #"{"Official_Account":"a","Limit":201}"#,
                     #"{"Official_Account":"a","Limit":0}"#, #"{"Official_Account":"a","Limit":true}"#, #"{"Official_Account":"a","Limit":1.5}"#,
                     #"{"Official_Account":"a","Limit":1e2}"#, #"{"Official_Account":"a","Limit":null}"#, #"{"Official_Account":"a","Limit":-1}"#,
                     #"{"Official_Account":"a","Limit":"5"}"#, #"{"Official_Account":"a","Next":3}"#, #"{"Official_Account":"a","Next":"%%"}"#] {
            #expect(throws: (any Error).self, "\(text)") { try parse(text) }
            #expect((try? parse(text)) == nil)
            do { _ = try parse(text) } catch { #expect(error != .notJSON, "\(text)") }
        }
    }

    @Test func theAuthenticatorChecksInTencentsOrderAndRemembersOnlyValidSigs() throws {
        let key = "secret-key"
        let now: Int64 = 1_700_000_000
        let authenticator = AdminCallAuthenticator(sdkAppID: 1_400_000_000, adminIdentifier: "administrator", secretKey: key)
        func check(sdkappid: Substring? = "1400000000", random: Substring? = "7", contenttype: Substring? = "json", identifier: Substring? = "administrator",
                   usersig: String?, at time: Int64 = now) -> Int? {
            authenticator.refusal(.init(sdkappid: sdkappid, random: random, contenttype: contenttype, identifier: identifier,
                                        usersig: usersig.map { Substring($0) }), nowSeconds: time)?.code
        }
        let valid = try UserSig.make(key: key, sdkAppID: 1_400_000_000, identifier: "administrator", expire: 60, now: now)
        #expect(check(usersig: valid) == nil)
        #expect(check(usersig: valid, at: now + 61) == 70001, "a remembered sig still expires")
        #expect(check(sdkappid: nil, usersig: valid) == 60012)
        #expect(check(sdkappid: "14x", usersig: valid) == 60006)
        #expect(check(sdkappid: "1400000001", usersig: valid) == 70020)
        #expect(check(random: "4294967296", usersig: valid) == 60002)
        #expect(check(contenttype: "xml", usersig: valid) == 60002)
        #expect(check(identifier: nil, usersig: valid) == 60004)
        #expect(check(usersig: nil) == 70002)
        #expect(check(usersig: "garbage") == 70003)
        #expect(check(identifier: "other", usersig: valid) == 70013)
        let forged = try UserSig.make(key: "other-key", sdkAppID: 1_400_000_000, identifier: "administrator", expire: 60, now: now)
        #expect(check(usersig: forged) == 70009)
        let foreign = try UserSig.make(key: key, sdkAppID: 1_400_000_001, identifier: "administrator", expire: 60, now: now)
        #expect(check(usersig: foreign) == 70014)
        let user = try UserSig.make(key: key, sdkAppID: 1_400_000_000, identifier: "user", expire: 60, now: now)
        #expect(check(identifier: "user", usersig: user) == 60010)
        #expect(check(identifier: "user", usersig: user) == 60010, "remembered, still not the admin")
        // Forged with an overflowing validity: refused, and nothing traps before the HMAC check.
        for (time, expire) in [(Int64.max, Int64(1)), (Int64.min, Int64(-1)), (Int64(1), Int64.max)] {
            let overflowing = UserSig(version: "2.0", identifier: "administrator", sdkAppID: 1_400_000_000, time: time, expire: expire,
                                      signature: "AAAA", userbuf: nil)
            #expect(overflowing.verify(key: key, sdkAppID: 1_400_000_000, identifier: "administrator", now: now) != .valid)
        }
        // A sig verified for one identifier is not remembered for another that shares its text.
        #expect(check(identifier: "administrator\nX", usersig: valid) == 70013)
        let keyless = AdminCallAuthenticator(sdkAppID: 1_400_000_000, adminIdentifier: "administrator", secretKey: nil)
        #expect(keyless.refusal(.init(sdkappid: "1400000000", random: "7", contenttype: "json", identifier: "administrator", usersig: Substring(valid)),
                                nowSeconds: now)?.code == 70016)
    }

    @Test func pathSegmentsArePercentDecodedStrictly() {
        #expect(PercentEncoding.decode("%40TOA%23_shop") == "@TOA#_shop")
        #expect(PercentEncoding.decode("plain") == "plain")
        #expect(PercentEncoding.decode("a%2Fb%20c%c3%bc") == "a/b cü")
        for malformed in ["%", "%4", "%zz", "a%g0", "%C3"] {
            #expect(PercentEncoding.decode(Substring(malformed)) == nil, "\(malformed)")
        }
        #expect(PercentEncoding.decode(Substring(PercentEncoding.encode("@TOA#_x/ü y"))) == "@TOA#_x/ü y")
    }

    @Test func theBearerTokenMustMatchExactly() {
        let token = BearerToken("s3cret")
        func admits(_ value: String?) -> Bool {
            var headers = HTTPFields()
            if let value { headers[.authorization] = value }
            return token.admits(headers)
        }
        #expect(admits("Bearer s3cret") && admits("bearer s3cret"))
        #expect(!admits(nil) && !admits("Bearer s3cre") && !admits("Bearer s3cretx") && !admits("Basic s3cret") && !admits("Bearer ") && !admits("s3cret"))
        #expect(!BearerToken(nil).admits([.authorization: "Bearer "]) && !BearerToken(nil).isConfigured)
    }
}
