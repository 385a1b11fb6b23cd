/// What to do about each outcome of a REST call.
public enum CallDisposition: Sendable, Equatable {
    /// Transient: try again after an exponential, jittered backoff.
    case retry
    /// Tencent says we are too fast: back off longer and lower the pace.
    case slowDown
    /// The admin UserSig is no longer accepted: make a new one and try once more.
    case resign
    /// Retrying cannot help; the message says what to do.
    case fail
}

/// Tencent's documented error codes (protocol reference, §3.3 and §3.4) with their disposition and
/// advice for the operator. Codes not listed here fail with Tencent's own `ErrorInfo`.
public enum TencentErrorCatalog {
    public struct Entry: Sendable {
        public var disposition: CallDisposition
        public var advice: String
    }

    public static let entries: [Int: Entry] = [
        60002: Entry(disposition: .fail, advice: "HTTP parse error: check --api-base-url"),
        60003: Entry(disposition: .fail, advice: "request JSON parse error: report a bug"),
        60004: Entry(disposition: .fail, advice: "identifier or UserSig wrong: check --identifier and the secret key"),
        60005: Entry(disposition: .fail, advice: "identifier or UserSig wrong: check --identifier and the secret key"),
        60006: Entry(disposition: .fail, advice: "SDKAppID invalid: check --sdkappid"),
        60007: Entry(disposition: .slowDown, advice: "REST call rate over the limit: lower --api-rate-limit"),
        60008: Entry(disposition: .retry, advice: "service timeout"),
        60009: Entry(disposition: .fail, advice: "unknown API path: check --api-base-url"),
        60010: Entry(disposition: .fail, advice: "the identifier is not an app admin: set --identifier to an admin account"),
        60011: Entry(disposition: .slowDown, advice: "SDKAppID-wide rate over the limit: lower --api-rate-limit or other callers' rates"),
        60012: Entry(disposition: .fail, advice: "SDKAppID missing from the URL: report a bug"),
        60013: Entry(disposition: .retry, advice: "Tencent could not parse its own answer"),
        60014: Entry(disposition: .retry, advice: "account exchange timeout"),
        60015: Entry(disposition: .fail, advice: "account type wrong"),
        60016: Entry(disposition: .fail, advice: "the SDKAppID is disabled: check the Chat console"),
        60017: Entry(disposition: .fail, advice: "the request is disabled for this app: check the Chat console"),
        60018: Entry(disposition: .slowDown, advice: "requests too frequent"),
        60019: Entry(disposition: .slowDown, advice: "requests too frequent"),
        60020: Entry(disposition: .fail, advice: "package not purchased or not yet effective: check the plan, retry in about 5 minutes"),
        60021: Entry(disposition: .fail, advice: "caller IP not allowed: add this host's IP to the app's allowlist"),
        70001: Entry(disposition: .resign, advice: "UserSig expired: check the clock and --usersig-validity (at least 24 h)"),
        70002: Entry(disposition: .fail, advice: "UserSig empty: report a bug"),
        70003: Entry(disposition: .resign, advice: "UserSig check failed: check the secret key"),
        70005: Entry(disposition: .resign, advice: "UserSig check failed: check the secret key"),
        70009: Entry(disposition: .fail, advice: "UserSig signed with another app's key: check the secret key and --sdkappid"),
        70013: Entry(disposition: .fail, advice: "identifier differs from the UserSig's: report a bug"),
        70014: Entry(disposition: .fail, advice: "SDKAppID differs from the UserSig's: check --sdkappid"),
        70016: Entry(disposition: .fail, advice: "key not found: wrong data center? check --region"),
        70020: Entry(disposition: .fail, advice: "SDKAppID not found: wrong data center? check --region"),
        70050: Entry(disposition: .fail, advice: "too many failed UserSig checks; Tencent blocks for a minute: fix the secret key, then retry"),
        70051: Entry(disposition: .fail, advice: "the admin account is blacklisted"),
        70052: Entry(disposition: .resign, advice: "UserSig invalidated"),
        70107: Entry(disposition: .fail, advice: "the identifier is not an imported account: check --identifier"),
        70169: Entry(disposition: .retry, advice: "internal timeout"),
        70402: Entry(disposition: .fail, advice: "invalid parameters: report a bug"),
        70403: Entry(disposition: .fail, advice: "admin permission required: set --identifier to an app admin"),
        70500: Entry(disposition: .retry, advice: "internal error"),
        6017: Entry(disposition: .fail, advice: "invalid request parameter (is the Official Account ID right?)"),
        10004: Entry(disposition: .retry, advice: "server internal error"),
        20001: Entry(disposition: .fail, advice: "invalid request packet: report a bug"),
        20005: Entry(disposition: .retry, advice: "server internal error"),
        130002: Entry(disposition: .fail, advice: "insufficient permission for this Official Account"),
    ]

    public static func disposition(errorCode: Int) -> CallDisposition {
        entries[errorCode]?.disposition ?? .fail
    }
}
