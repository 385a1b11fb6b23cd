import Synchronization

/// Tencent's checks of a REST call's URL, in the gateway's order: is the caller the app admin,
/// with a UserSig made from the app's secret key? The simulator answers with them, and so does
/// the read API's Tencent-compatible endpoint.
///
///  1. `sdkappid`: missing → 60012, not a number → 60006, not this app → 70020;
///  2. `random` missing or not a decimal uint32 → 60002; `contenttype` not `json` → 60002;
///  3. `identifier` missing → 60004;
///  4. `usersig`: missing → 70002, no secret key to check it with → 70016, undecodable → 70003,
///     then as Tencent's verifier orders it: sdkappid differs from the sig's → 70014, identifier
///     differs → 70013, expired → 70001, HMAC under another key → 70009;
///  5. `identifier` is not the app admin → 60010.
public struct AdminCallAuthenticator: Sendable {
    public struct Refusal: Sendable, Equatable {
        public var code: Int
        public var info: String

        public init(_ code: Int, _ info: String) {
            self.code = code
            self.info = info
        }
    }

    /// The URL's parameters that the checks read, as received.
    public struct Credentials: Sendable {
        public var sdkappid: Substring?
        public var random: Substring?
        public var contenttype: Substring?
        public var identifier: Substring?
        public var usersig: Substring?

        public init(sdkappid: Substring?, random: Substring?, contenttype: Substring?, identifier: Substring?, usersig: Substring?) {
            self.sdkappid = sdkappid
            self.random = random
            self.contenttype = contenttype
            self.identifier = identifier
            self.usersig = usersig
        }
    }

    public let sdkAppID: UInt64
    public let adminIdentifier: String
    /// Secret: never logged. nil: every UserSig is refused with 70016.
    private let secretKey: String?
    /// Verified UserSigs (with the identifier they were verified for) and until when (Unix
    /// seconds) they stay valid: an app sends the same UserSig for days, and decoding and an HMAC
    /// per call would cost more than a page.
    private let verified = BoundedCache<Verified, Int64>(capacity: 1_024)

    private struct Verified: Hashable, Sendable {
        var identifier: Substring
        var usersig: Substring
    }

    public init(sdkAppID: UInt64, adminIdentifier: String, secretKey: String?) {
        self.sdkAppID = sdkAppID
        self.adminIdentifier = adminIdentifier
        self.secretKey = secretKey
    }

    /// nil when the caller is the authenticated app admin.
    public func refusal(_ given: Credentials, nowSeconds: Int64) -> Refusal? {
        guard let rawApp = given.sdkappid, !rawApp.isEmpty else {
            return Refusal(TencentErrorCode.sdkAppIDMissing, "sdkappid is missing from the URL")
        }
        guard Self.isDecimal(rawApp), let app = UInt64(rawApp) else {
            return Refusal(TencentErrorCode.sdkAppIDInvalid, "sdkappid is invalid")
        }
        guard app == sdkAppID else {
            return Refusal(TencentErrorCode.sdkAppIDNotFound, "sdkappid \(app) not found")
        }
        guard let random = given.random, !random.isEmpty, random.utf8.count <= 10, Self.isDecimal(random), UInt32(random) != nil else {
            return Refusal(TencentErrorCode.httpParse, "random must be a 32-bit unsigned integer")
        }
        guard given.contenttype == "json" else {
            return Refusal(TencentErrorCode.httpParse, "contenttype must be json")
        }
        guard let identifier = given.identifier, !identifier.isEmpty else {
            return Refusal(TencentErrorCode.identifierMissing, "identifier is missing from the URL")
        }
        guard let text = given.usersig, !text.isEmpty else {
            return Refusal(TencentErrorCode.userSigEmpty, "usersig is empty")
        }
        guard let secretKey else {
            return Refusal(TencentErrorCode.keyNotFound, "no secret key is configured to check usersig with")
        }
        let memo = Verified(identifier: identifier, usersig: text)
        if let validUntil = verified.lookup(memo), nowSeconds <= validUntil {
            return identifier == adminIdentifier ? nil : Refusal(TencentErrorCode.notAdmin, "identifier \(identifier) is not an app admin")
        }
        guard let sig = try? UserSig.decode(String(text)) else {
            return Refusal(TencentErrorCode.userSigUndecodable, "usersig could not be decoded")
        }
        switch sig.verify(key: secretKey, sdkAppID: sdkAppID, identifier: String(identifier), now: nowSeconds) {
        case .valid: verified.remember(memo, sig.validUntil)
        case .sdkAppIDMismatch: return Refusal(TencentErrorCode.sdkAppIDMismatch, "sdkappid differs from the one in usersig")
        case .identifierMismatch: return Refusal(TencentErrorCode.identifierMismatch, "identifier differs from the one in usersig")
        case .expired: return Refusal(TencentErrorCode.userSigExpired, "usersig expired")
        case .signatureMismatch: return Refusal(TencentErrorCode.userSigWrongKey, "usersig verification failed: not signed with this app's key")
        }
        guard identifier == adminIdentifier else {
            return Refusal(TencentErrorCode.notAdmin, "identifier \(identifier) is not an app admin")
        }
        return nil
    }

    private static func isDecimal(_ text: Substring) -> Bool {
        text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
