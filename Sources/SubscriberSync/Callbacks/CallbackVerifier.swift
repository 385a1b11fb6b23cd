import Foundation

/// The checks that happen before a callback body is read: the app id, then the signature and its
/// freshness. Order matters: a request for another app is refused as such even when unsigned.
public struct CallbackVerifier: Sendable {
    public var sdkAppID: String
    public var signature: CallbackSignature?
    public var requestTimeWindowSeconds: Int64
    public var clock: any WallClock

    public init(sdkAppID: String, callbackToken: String?, requestTimeWindowSeconds: Int64 = 60, clock: any WallClock = SystemWallClock()) {
        self.sdkAppID = sdkAppID
        self.signature = callbackToken.map(CallbackSignature.init(token:))
        self.requestTimeWindowSeconds = requestTimeWindowSeconds
        self.clock = clock
    }

    public func verify(query: CallbackQuery) throws(CallbackRefusal) {
        guard query.sdkAppID == sdkAppID else {
            throw CallbackRefusal(.wrongApp, "SdkAppid does not match this service")
        }
        guard let signature else { return }
        guard let sign = query.sign, let requestTime = query.requestTime else {
            throw CallbackRefusal(.badSignature, "Sign and RequestTime are required")
        }
        guard signature.isValid(sign: sign, requestTime: requestTime) else {
            throw CallbackRefusal(.badSignature, "Sign does not match")
        }
        guard let seconds = Int64(requestTime) else {
            throw CallbackRefusal(.staleRequestTime, "RequestTime is not a Unix time in seconds")
        }
        let now = clock.nowMilliseconds() / 1000
        // Compared without subtracting: a signed RequestTime near Int64.min must not overflow.
        guard seconds >= now - requestTimeWindowSeconds, seconds <= now + requestTimeWindowSeconds else {
            throw CallbackRefusal(.staleRequestTime, "RequestTime is more than \(requestTimeWindowSeconds) s from now")
        }
    }
}

/// The query parameters Tencent appends to the callback URL.
public struct CallbackQuery: Sendable {
    public var sdkAppID: String?
    public var callbackCommand: String?
    public var sign: String?
    public var requestTime: String?

    public init(sdkAppID: String?, callbackCommand: String? = nil, sign: String? = nil, requestTime: String? = nil) {
        self.sdkAppID = sdkAppID
        self.callbackCommand = callbackCommand
        self.sign = sign
        self.requestTime = requestTime
    }

    /// Reads the four parameters from a raw query string (`a=1&b=2`), as Hummingbird's
    /// `queryParameters` would: the first occurrence of a key wins, values are percent-decoded
    /// (kept as given when that fails). Only these four are looked at, which spares building a
    /// dictionary of every parameter on each callback.
    public init(urlQuery: String?) {
        self.init(sdkAppID: nil)
        guard let urlQuery else { return }
        for pair in urlQuery.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let key = pair[..<(equals ?? pair.endIndex)]
            let value = equals.map { pair[pair.index(after: $0)...] } ?? pair[pair.endIndex...]
            func decoded() -> String {
                let raw = String(Substring(value))
                guard value.contains(UInt8(ascii: "%")) else { return raw }
                return raw.removingPercentEncoding ?? raw
            }
            switch Substring(key) {
            case "SdkAppid" where sdkAppID == nil: sdkAppID = decoded()
            case "CallbackCommand" where callbackCommand == nil: callbackCommand = decoded()
            case "Sign" where sign == nil: sign = decoded()
            case "RequestTime" where requestTime == nil: requestTime = decoded()
            default: continue
            }
        }
    }
}
