import Synchronization

/// The admin UserSig, made once and reused until 80% of its validity has passed, so a long-running
/// service never presents an expired one (Tencent's 70001) and never signs per call.
public final class UserSigCache: Sendable {
    private let secretKey: String
    private let sdkAppID: UInt64
    private let identifier: String
    private let validity: Int64
    private let clock: any WallClock
    private struct Cached { var sig: String; var madeAt: Int64 }
    private let cached = Mutex<Cached?>(nil)

    public init(secretKey: String, sdkAppID: UInt64, identifier: String, validitySeconds: Int64, clock: any WallClock) {
        self.secretKey = secretKey
        self.sdkAppID = sdkAppID
        self.identifier = identifier
        self.validity = validitySeconds
        self.clock = clock
    }

    public func current() throws -> String {
        let now = clock.nowMilliseconds() / 1000
        return try cached.withLock { cached in
            if let cached, (now - cached.madeAt) * 10 < validity * 8 {
                return cached.sig
            }
            let sig = try UserSig.make(key: secretKey, sdkAppID: sdkAppID, identifier: identifier, expire: validity, now: now)
            cached = Cached(sig: sig, madeAt: now)
            return sig
        }
    }

    /// Tencent refused the current one (70001/70003/70005/70052): the next call makes a new one.
    public func invalidate() {
        cached.withLock { $0 = nil }
    }
}
