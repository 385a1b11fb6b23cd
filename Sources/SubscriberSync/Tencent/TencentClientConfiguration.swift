/// Settings of the REST client, shared by `serve` and `reconcile`.
public struct TencentClientConfiguration: Sendable {
    public var baseURL: String
    public var sdkAppID: UInt64
    public var identifier: String
    public var secretKey: String
    /// Calls per second, at most, in any one-second window.
    public var rateLimit: Int
    public var timeout: Duration
    /// Attempts per call, the first included, for transient failures.
    public var maxAttempts: Int
    public var userSigValiditySeconds: Int64

    public init(baseURL: String, sdkAppID: UInt64, identifier: String, secretKey: String, rateLimit: Int = 180,
                timeout: Duration = .seconds(10), maxAttempts: Int = 5, userSigValiditySeconds: Int64 = 7 * 86_400) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.sdkAppID = sdkAppID
        self.identifier = identifier
        self.secretKey = secretKey
        self.rateLimit = rateLimit
        self.timeout = timeout
        self.maxAttempts = maxAttempts
        self.userSigValiditySeconds = userSigValiditySeconds
    }
}
