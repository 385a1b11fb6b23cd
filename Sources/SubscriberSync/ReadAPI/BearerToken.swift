import Crypto
import Foundation
import Hummingbird

/// The native endpoints' `Authorization: Bearer <token>` check. Both sides are hashed before the
/// comparison, so its time tells nothing about the token, not even its length.
struct BearerToken: Sendable {
    private let digest: [UInt8]?

    /// nil: no token configured, every request is refused.
    init(_ token: String?) {
        digest = token.map { Array(SHA256.hash(data: Data($0.utf8))) }
    }

    var isConfigured: Bool { digest != nil }

    func admits(_ headers: HTTPFields) -> Bool {
        guard let digest, let value = headers[.authorization] else { return false }
        let scheme = value.utf8.prefix(7)
        guard value.utf8.count > 7, scheme.elementsEqual("bearer ".utf8, by: { $0 | 0x20 == $1 }) else { return false }
        return ConstantTime.equal(Array(SHA256.hash(data: Data(value.utf8.dropFirst(7)))), digest)
    }
}
