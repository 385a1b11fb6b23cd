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
