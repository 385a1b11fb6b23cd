import Crypto

/// Tencent's callback authentication: `Sign = lowercase hex(SHA-256(token + RequestTime))`.
/// Plain SHA-256 over the concatenation, not an HMAC (see the protocol reference, §2.3).
public struct CallbackSignature: Sendable {
    private let token: [UInt8]

    public init(token: String) {
        self.token = Array(token.utf8)
    }

    public func sign(requestTime: String) -> String {
        var hasher = SHA256()
        hasher.update(data: token)
        hasher.update(data: Array(requestTime.utf8))
        return hasher.finalize().map { byte in
            let hex = Array("0123456789abcdef".utf8)
            return String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
        }.joined()
    }

    /// Compares in time independent of where the strings differ. Tencent documents lowercase hex;
    /// uppercase is accepted too, since the case carries no secret.
    public func isValid(sign: String, requestTime: String) -> Bool {
        let expected = Array(self.sign(requestTime: requestTime).utf8)
        let given = Array(sign.utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for index in 0..<expected.count {
            let byte = index < given.count ? given[index] : 0
            let lowered = (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F")) ? byte | 0x20 : byte
            difference |= lowered ^ expected[index]
        }
        return difference == 0
    }
}
