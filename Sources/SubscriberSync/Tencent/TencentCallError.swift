/// A REST call that did not succeed, after any retries.
public struct TencentCallError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case network
        case timeout
        case httpStatus(Int)
        case unparseable
        /// Tencent answered with this `ErrorCode`.
        case tencent(Int)
        case shutdown
    }

    public var kind: Kind
    public var command: String
    public var attempts: Int
    /// What happened and what to do; never contains the UserSig or the secret key.
    public var message: String

    public var description: String { "\(command) failed after \(attempts) attempt(s): \(message)" }

    /// How the client reacts to this outcome.
    public var disposition: CallDisposition {
        switch kind {
        case .network, .timeout, .unparseable: .retry
        case .httpStatus(429): .slowDown
        case .httpStatus(let status) where status >= 500: .retry
        case .httpStatus: .fail
        case .tencent(let code): TencentErrorCatalog.disposition(errorCode: code)
        case .shutdown: .fail
        }
    }

    public var errorCode: Int? {
        if case .tencent(let code) = kind { return code }
        return nil
    }
}
