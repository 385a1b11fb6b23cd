import HTTPTypes

/// Why a callback was refused: the HTTP status, the non-zero `ErrorCode` in the JSON answer, and
/// a reason safe to send back and to log (it never quotes a secret).
public struct CallbackRefusal: Error, Sendable, Equatable {
    public enum Reason: String, Sendable {
        case wrongApp = "wrong_app"
        case badSignature = "bad_signature"
        case staleRequestTime = "stale_request_time"
        case tooLarge = "too_large"
        case malformed = "malformed"
        case storageUnavailable = "storage_unavailable"
    }

    public var reason: Reason
    public var message: String

    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var status: HTTPResponse.Status {
        switch reason {
        case .wrongApp: .forbidden
        case .badSignature, .staleRequestTime: .unauthorized
        case .tooLarge: .contentTooLarge
        case .malformed: .badRequest
        case .storageUnavailable: .serviceUnavailable
        }
    }

    /// `ErrorCode` mirrors the HTTP status: non-zero, and easy to read in Tencent's console logs.
    public var errorCode: Int { status.code }
}
