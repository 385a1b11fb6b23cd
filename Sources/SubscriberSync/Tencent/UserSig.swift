import Crypto
import Foundation

/// Tencent's TLS sig v2 ("UserSig"): an HMAC-SHA256 over four lines, wrapped in JSON, zlib and a
/// URL-safe base64 (`+`→`*`, `/`→`-`, `=`→`_`). See the protocol reference, §5.
public struct UserSig: Sendable, Equatable {
    public var version: String
    public var identifier: String
    public var sdkAppID: UInt64
    /// Unix seconds when it was made.
    public var time: Int64
    /// Validity in seconds, counted from `time`.
    public var expire: Int64
    /// Standard base64 of the HMAC.
    public var signature: String
    public var userbuf: String?

    /// The string Tencent signs: each line ends in a newline, the last one too.
    public static func stringToSign(identifier: String, sdkAppID: UInt64, time: Int64, expire: Int64, userbuf: String? = nil) -> String {
        var text = "TLS.identifier:\(identifier)\nTLS.sdkappid:\(sdkAppID)\nTLS.time:\(time)\nTLS.expire:\(expire)\n"
        if let userbuf { text += "TLS.userbuf:\(userbuf)\n" }
        return text
    }

    /// The secret key is used as its UTF-8 bytes (not hex-decoded), as all official libraries do.
    public static func hmac(key: String, _ text: String) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: Data(key.utf8))))
    }

    public static func make(key: String, sdkAppID: UInt64, identifier: String, expire: Int64, now: Int64) throws -> String {
        let signature = hmac(key: key, stringToSign(identifier: identifier, sdkAppID: sdkAppID, time: now, expire: expire)).base64EncodedString()
        var json = JSONObjectWriter()
        json.string("TLS.ver", "2.0")
        json.string("TLS.identifier", identifier)
        json.int("TLS.sdkappid", Int64(bitPattern: sdkAppID))
        json.int("TLS.expire", expire)
        json.int("TLS.time", now)
        json.string("TLS.sig", signature)
        let compressed = try Zlib.compress(json.finished())
        return String(Data(compressed).base64EncodedString().map { character -> Character in
            switch character {
            case "+": "*"
            case "/": "-"
            case "=": "_"
            default: character
            }
        })
    }

    public struct DecodeError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads a UserSig back (for tests and for the simulator's verification).
    public static func decode(_ text: String) throws -> UserSig {
        let standard = String(text.map { character -> Character in
            switch character {
            case "*": "+"
            case "-": "/"
            case "_": "="
            default: character
            }
        })
        guard let compressed = Data(base64Encoded: standard) else { throw DecodeError(description: "not base64") }
        let json = try Zlib.decompress(Array(compressed))
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else {
            throw DecodeError(description: "not a JSON object")
        }
        guard let identifier = object["TLS.identifier"] as? String,
              let sdkAppID = (object["TLS.sdkappid"] as? NSNumber)?.uint64Value,
              let time = (object["TLS.time"] as? NSNumber)?.int64Value,
              let expire = (object["TLS.expire"] as? NSNumber)?.int64Value,
              let signature = object["TLS.sig"] as? String
        else { throw DecodeError(description: "missing TLS fields") }
        return UserSig(version: object["TLS.ver"] as? String ?? "", identifier: identifier, sdkAppID: sdkAppID,
                       time: time, expire: expire, signature: signature, userbuf: object["TLS.userbuf"] as? String)
    }

    public enum Verdict: Equatable, Sendable {
        case valid
        case sdkAppIDMismatch, identifierMismatch, expired, signatureMismatch
    }

    /// Unix seconds until which it is valid. Saturating: `time` and `expire` come from whoever sent
    /// the UserSig, before its HMAC is checked, and an overflowing sum must not trap.
    public var validUntil: Int64 {
        let (sum, overflow) = time.addingReportingOverflow(expire)
        return overflow ? (expire > 0 ? Int64.max : Int64.min) : sum
    }

    /// Tencent's checks, in the order of the official Go verifier.
    public func verify(key: String, sdkAppID: UInt64, identifier: String, now: Int64) -> Verdict {
        guard self.sdkAppID == sdkAppID else { return .sdkAppIDMismatch }
        guard self.identifier == identifier else { return .identifierMismatch }
        guard now <= validUntil else { return .expired }
        let expected = Self.hmac(key: key, Self.stringToSign(identifier: identifier, sdkAppID: sdkAppID, time: time, expire: expire, userbuf: userbuf))
        guard let given = Data(base64Encoded: signature) else { return .signatureMismatch }
        return ConstantTime.equal(given, expected) ? .valid : .signatureMismatch
    }
}
