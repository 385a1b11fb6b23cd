import Foundation
import Testing
@testable import SubscriberSync

@Suite struct UserSigTests {
    struct Vector {
        var sdkAppID: UInt64, key: String, identifier: String, time: Int64, expire: Int64
        var stringToSign: String, hmacHex: String, sigBase64: String, userSigs: [String]
    }

    static func vectors() throws -> [Vector] {
        let root = try #require(try JSONSerialization.jsonObject(with: Resources.data("usersig-test-vectors.json")) as? [String: Any])
        let list = try #require(root["vectors"] as? [[String: Any]])
        return try list.map { v in
            Vector(sdkAppID: try #require((v["sdkappid"] as? NSNumber)?.uint64Value), key: try #require(v["key"] as? String),
                   identifier: try #require(v["identifier"] as? String), time: try #require((v["time"] as? NSNumber)?.int64Value),
                   expire: try #require((v["expire"] as? NSNumber)?.int64Value), stringToSign: try #require(v["string_to_sign"] as? String),
                   hmacHex: try #require(v["hmac_sha256_hex"] as? String), sigBase64: try #require(v["tls_sig_base64"] as? String),
                   userSigs: [try #require(v["usersig_python_style_zlib_level6"] as? String), try #require(v["usersig_node_style_zlib_level6"] as? String)])
        }
    }

    @Test func signedLinesAndHMACMatchTheVectors() throws {
        let vectors = try Self.vectors()
        #expect(vectors.count == 2)
        for v in vectors {
            let text = UserSig.stringToSign(identifier: v.identifier, sdkAppID: v.sdkAppID, time: v.time, expire: v.expire)
            #expect(text == v.stringToSign)
            let mac = UserSig.hmac(key: v.key, text)
            #expect(mac.map { String(format: "%02x", $0) }.joined() == v.hmacHex)
            #expect(mac.base64EncodedString() == v.sigBase64)
        }
    }

    @Test func officialStyleSigsDecodeAndVerify() throws {
        for v in try Self.vectors() {
            for text in v.userSigs {
                let sig = try UserSig.decode(text)
                #expect(sig == UserSig(version: "2.0", identifier: v.identifier, sdkAppID: v.sdkAppID, time: v.time, expire: v.expire, signature: v.sigBase64, userbuf: nil))
                #expect(sig.verify(key: v.key, sdkAppID: v.sdkAppID, identifier: v.identifier, now: v.time + 10) == .valid)
            }
        }
    }

    @Test func ourSigsDecodeToTheVectorsFields() throws {
        for v in try Self.vectors() {
            let made = try UserSig.make(key: v.key, sdkAppID: v.sdkAppID, identifier: v.identifier, expire: v.expire, now: v.time)
            #expect(made.allSatisfy { $0.isLetter || $0.isNumber || "*-_".contains($0) }, "URL-safe alphabet only")
            let decoded = try UserSig.decode(made)
            #expect(decoded.signature == v.sigBase64)
            #expect(decoded.identifier == v.identifier && decoded.sdkAppID == v.sdkAppID && decoded.time == v.time && decoded.expire == v.expire)
            #expect(decoded.version == "2.0")
        }
    }

    @Test func verificationRefusesWhatTencentRefuses() throws {
        let key = "k"
        let sig = try UserSig.decode(try UserSig.make(key: key, sdkAppID: 1, identifier: "admin", expire: 100, now: 1_000))
        #expect(sig.verify(key: key, sdkAppID: 1, identifier: "admin", now: 1_100) == .valid)
        #expect(sig.verify(key: key, sdkAppID: 1, identifier: "admin", now: 1_101) == .expired)
        #expect(sig.verify(key: key, sdkAppID: 2, identifier: "admin", now: 1_000) == .sdkAppIDMismatch)
        #expect(sig.verify(key: key, sdkAppID: 1, identifier: "other", now: 1_000) == .identifierMismatch)
        #expect(sig.verify(key: "other key", sdkAppID: 1, identifier: "admin", now: 1_000) == .signatureMismatch)
        #expect(throws: (any Error).self) { try UserSig.decode("not a sig") }
        #expect(throws: (any Error).self) { try UserSig.decode("eJwrSS0u0S1OTc5PSVUoyMjPS1UoSU0uyczPAwA_") }
    }

    /// An independent decoder (Python's zlib, base64 and hmac) accepts a sig made by this code.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") || FileManager.default.isExecutableFile(atPath: "/usr/local/bin/python3")))
    func independentDecoderVerifiesOurSig() async throws {
        let key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
        let made = try UserSig.make(key: key, sdkAppID: 1_400_000_000, identifier: "administrator", expire: 86_400, now: 1_700_000_000)
        let script = """
            import base64, hashlib, hmac, json, sys, zlib
            sig, key = sys.argv[1], sys.argv[2].encode()
            j = json.loads(zlib.decompress(base64.b64decode(sig.replace('*', '+').replace('-', '/').replace('_', '='))))
            text = 'TLS.identifier:%s\\nTLS.sdkappid:%d\\nTLS.time:%d\\nTLS.expire:%d\\n' % (j['TLS.identifier'], j['TLS.sdkappid'], j['TLS.time'], j['TLS.expire'])
            ok = base64.b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()).decode() == j['TLS.sig']
            print('%s %s %d %d %d' % (ok, j['TLS.identifier'], j['TLS.sdkappid'], j['TLS.time'], j['TLS.expire']))
            """
        let run = try await ChildProcess.run("python3", ["-c", script, made, key], environment: ProcessInfo.processInfo.environment,
                                             timeout: .seconds(30))
        let text = run.stdout
        #expect(run.exit == .exited(0), "python3: \(run.stderr)")
        #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == "True administrator 1400000000 1700000000 86400")
    }

    @Test func cacheRenewsAfterEightyPercentOfValidity() throws {
        let clock = FakeClock(milliseconds: 1_700_000_000_000)
        let cache = UserSigCache(secretKey: "k", sdkAppID: 1, identifier: "admin", validitySeconds: 1_000, clock: clock)
        let first = try cache.current()
        clock.advance(milliseconds: 799_000)
        #expect(try cache.current() == first)
        clock.advance(milliseconds: 1_000)
        let renewed = try cache.current()
        #expect(renewed != first)
        #expect(try UserSig.decode(renewed).time == 1_700_000_800)
        cache.invalidate()
        clock.advance(milliseconds: 1_000)
        #expect(try cache.current() != renewed)
    }
}
