import SubscriberSync

extension TencentSimulator {
    /// The REST commands the simulator serves.
    public enum API: String, Sendable, Hashable, CaseIterable {
        case getSubscriberInfo = "get_subscriber_info"
        case getOfficialAccountInfo = "get_official_account_info"

        public static let serviceName = "official_account_open_http_svc"

        /// `/v4/official_account_open_http_svc/<command>`.
        public var path: String { "/v4/\(Self.serviceName)/\(rawValue)" }
    }

    /// A failure the simulator serves instead of (or, for `delay`, before) the real answer.
    /// Faults are taken in FIFO order by calls that passed authentication and the rate limiter, so a
    /// malformed request never consumes one, and a faulted call still counts against the limit (it
    /// reached "Tencent").
    public enum Fault: Sendable, Equatable, CustomStringConvertible {
        /// This HTTP status with an nginx-style HTML body (`text/html`), like a gateway in front of Tencent.
        case httpStatus(Int)
        /// HTTP 200, `Content-Type: application/json`, but a body that is not JSON.
        case garbage
        /// HTTP 200 with `{"ActionStatus":"FAIL","ErrorInfo":info,"ErrorCode":code}`, e.g. 70500,
        /// 60008, 70001, 60007.
        case errorCode(Int, info: String)
        /// Answers normally, after this long.
        case delay(Duration)
        /// HTTP 200 with the real answer cut in half (a connection that died mid-body, re-framed).
        case truncated

        public var description: String {
            switch self {
            case .httpStatus(let status): "http \(status)"
            case .garbage: "garbage"
            case .errorCode(let code, _): "error \(code)"
            case .delay(let duration): "delay \(duration)"
            case .truncated: "truncated"
            }
        }

        /// What `--fault-rate` draws from.
        public static let transient: [Fault] = [
            .httpStatus(502), .garbage, .errorCode(ErrorCode.internalError, info: "internal error, please retry"), .delay(.milliseconds(1500)),
        ]
    }

    /// How `Next` cursors address the listing.
    public enum PagingMode: String, Sendable, Hashable, CaseIterable {
        /// The cursor holds the last `Subscriber_Account` returned; the next page starts after it.
        /// Subscribers added behind the cursor during a scan are missed; none is ever skipped or
        /// repeated otherwise.
        case keyset
        /// The cursor holds an index. Removals behind the cursor during a scan make the scan skip
        /// subscribers that never left; additions behind it make it repeat one. Tencent does not
        /// document its cursor semantics, so a reconciler must survive both.
        case offset
    }

    /// The error codes this simulator answers with, picked from the protocol reference's tables
    /// (§3.3; 6017 from the `delete_subscriber` table, §3.4, as Tencent does not publish
    /// `get_subscriber_info`'s own list). Every Tencent-level error is an HTTP 200 with
    /// `ActionStatus` `FAIL`.
    public enum ErrorCode {
        /// HTTP parse error: `random` missing or not a uint32, `contenttype` not `json`, a method other
        /// than POST on a known command, a body over 1 MiB.
        public static let httpParse = TencentErrorCode.httpParse
        /// The body is not a JSON object.
        public static let requestJSON = TencentErrorCode.requestJSON
        /// `identifier` missing from the URL.
        public static let identifierMissing = TencentErrorCode.identifierMissing
        /// `sdkappid` is not a number.
        public static let sdkAppIDInvalid = TencentErrorCode.sdkAppIDInvalid
        /// Over the REST call rate (sliding one-second window over accepted calls).
        public static let rateLimited = TencentErrorCode.rateLimited
        /// Unknown command under `/v4`.
        public static let unknownPath = TencentErrorCode.unknownPath
        /// `identifier` is not the app admin (the UserSig itself is valid).
        public static let notAdmin = TencentErrorCode.notAdmin
        /// `sdkappid` missing from the URL.
        public static let sdkAppIDMissing = TencentErrorCode.sdkAppIDMissing
        /// UserSig expired (`now > TLS.time + TLS.expire`).
        public static let userSigExpired = TencentErrorCode.userSigExpired
        /// `usersig` missing or empty.
        public static let userSigEmpty = TencentErrorCode.userSigEmpty
        /// UserSig cannot be decoded (not base64url, not zlib, not JSON, fields missing).
        public static let userSigUndecodable = TencentErrorCode.userSigUndecodable
        /// UserSig HMAC made with another key.
        public static let userSigWrongKey = TencentErrorCode.userSigWrongKey
        /// `identifier` in the URL differs from `TLS.identifier`.
        public static let identifierMismatch = TencentErrorCode.identifierMismatch
        /// `sdkappid` in the URL differs from `TLS.sdkappid`.
        public static let sdkAppIDMismatch = TencentErrorCode.sdkAppIDMismatch
        /// `sdkappid` is a number but not this app (Tencent: "SDKAppID not found").
        public static let sdkAppIDNotFound = TencentErrorCode.sdkAppIDNotFound
        /// Internal error, retry (only ever served as an injected fault).
        public static let internalError = TencentErrorCode.internalError
        /// Invalid request parameter: `Official_Account`, `Limit` (must be 1...200), `Next` (must be
        /// present, and `""` or a cursor this simulator issued for this account), `OfficialAccountIdList`
        /// (1...50 entries).
        public static let invalidParameter = TencentErrorCode.invalidParameter
        /// An Official Account the app does not have. Tencent's code is not documented; the closest
        /// documented one is "invalid request parameter".
        public static let unknownAccount = TencentErrorCode.invalidParameter
    }

    /// What the simulator has seen since it started (or since `resetStats()`).
    public struct Stats: Sendable, Equatable {
        /// Calls that passed authentication and the rate limiter (faulted ones included).
        public var acceptedCalls = 0
        /// Calls refused with 60007 by the rate limiter.
        public var rateLimitedCalls = 0
        /// The most accepted calls in any sliding one-second window.
        public var maxCallsInOneSecond = 0
        /// Pages of `get_subscriber_info` answered successfully.
        public var pagesServed = 0
        /// Faults served (including delays).
        public var faultsServed = 0
        /// Every FAIL answer by `ErrorCode` (rate limiting and injected error codes included).
        public var errorCodes: [Int: Int] = [:]
        /// Accepted calls per command.
        public var calls: [API: Int] = [:]

        public init() {}
    }

    /// Changes made to an account's listing while it is being paged, after every `everyPages`
    /// pages that are not the last. "Behind" means at or before the last subscriber the page
    /// returned; "ahead" means after it. Picks are deterministic.
    public struct Churn: Sendable, Equatable {
        public var everyPages: Int
        public var addBehind: Int
        public var addAhead: Int
        public var removeBehind: Int
        public var removeAhead: Int

        public init(everyPages: Int = 1, addBehind: Int = 0, addAhead: Int = 0, removeBehind: Int = 0, removeAhead: Int = 0) {
            self.everyPages = max(1, everyPages)
            self.addBehind = addBehind
            self.addAhead = addAhead
            self.removeBehind = removeBehind
            self.removeAhead = removeAhead
        }
    }

    /// One change made by a `Churn`.
    public struct ChurnChange: Sendable, Equatable, CustomStringConvertible {
        public enum Kind: String, Sendable { case added, removed }
        public var kind: Kind
        public var account: String
        public var subscriber: String
        /// At or before the last subscriber returned by the page that preceded the change.
        public var behindCursor: Bool
        /// Index (from 0) of the page after which the change was made.
        public var afterPage: Int

        public var description: String { "\(kind.rawValue) \(subscriber) \(behindCursor ? "behind" : "ahead") after page \(afterPage)" }
    }
}
