import Crypto

/// Tencent's callback authentication: `Sign = lowercase hex(SHA-256(token + RequestTime))`.
/// Plain SHA-256 over the concatenation, not an HMAC (see the protocol reference, §2.3).
public struct CallbackSignature: Sendable {
    private let token: [UInt8]
    /// Expected signs of recent RequestTimes. Tencent signs with a time in seconds, so under load
    /// thousands of callbacks share one: hash once per second, not once per callback.
    private let recent = BoundedCache<String, [UInt8]>(capacity: 16)

    public init(token: String) {
        self.token = Array(token.utf8)
    }

    public func sign(requestTime: String) -> String {
        String(decoding: expected(requestTime: requestTime), as: UTF8.self)
    }

    private func expected(requestTime: String) -> [UInt8] {
        if let known = recent.lookup(requestTime) { return known }
        var hasher = SHA256()
        hasher.update(data: token)
        hasher.update(data: Array(requestTime.utf8))
        let hex = Array("0123456789abcdef".utf8)
        var digits: [UInt8] = []
        digits.reserveCapacity(64)
        for byte in hasher.finalize() {
            digits.append(hex[Int(byte >> 4)])
            digits.append(hex[Int(byte & 0xF)])
        }
        recent.remember(requestTime, digits)
        return digits
    }

    /// Compares in time independent of where the strings differ. Tencent documents lowercase hex;
    /// uppercase is accepted too, since the case carries no secret.
    public func isValid(sign: String, requestTime: String) -> Bool {
        let expected = self.expected(requestTime: requestTime)
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
