/// Error codes that Tencent's REST gateway answers and that the simulator and the read API's
/// compatible endpoint answer the same way (protocol reference, §3.3 and §3.4).
public enum TencentErrorCode {
    /// HTTP parse error: `random` missing or not a uint32, `contenttype` not `json`, a wrong method,
    /// a body over 1 MiB.
    public static let httpParse = 60002
    /// The body is not a JSON object (the REST gateway's code).
    public static let requestJSON = 60003
    /// `identifier` missing from the URL.
    public static let identifierMissing = 60004
    /// `sdkappid` is not a number.
    public static let sdkAppIDInvalid = 60006
    /// Over the REST call rate.
    public static let rateLimited = 60007
    /// Unknown command path.
    public static let unknownPath = 60009
    /// `identifier` is not the app admin (the UserSig itself is valid).
    public static let notAdmin = 60010
    /// `sdkappid` missing from the URL.
    public static let sdkAppIDMissing = 60012
    /// UserSig expired (`now > TLS.time + TLS.expire`).
    public static let userSigExpired = 70001
    /// `usersig` missing or empty.
    public static let userSigEmpty = 70002
    /// UserSig cannot be decoded (not base64url, not zlib, not JSON, fields missing).
    public static let userSigUndecodable = 70003
    /// UserSig HMAC made with another key.
    public static let userSigWrongKey = 70009
    /// `identifier` in the URL differs from `TLS.identifier`.
    public static let identifierMismatch = 70013
    /// `sdkappid` in the URL differs from `TLS.sdkappid`.
    public static let sdkAppIDMismatch = 70014
    /// No secret key to check UserSigs with ("key not found").
    public static let keyNotFound = 70016
    /// `sdkappid` is a number but not this app ("SDKAppID not found").
    public static let sdkAppIDNotFound = 70020
    /// Internal error, retry.
    public static let internalError = 70500
    /// Invalid request parameter (`Official_Account`, `Limit`, `Next`, …).
    public static let invalidParameter = 6017
    /// Invalid request packet (the Official Account service's code for a body that is not JSON).
    public static let invalidPacket = 20001
    /// Server internal error, retry (the Official Account service's code).
    public static let serverInternal = 20005
    /// The Official Account does not exist.
    public static let officialAccountNotFound = 130007
}
