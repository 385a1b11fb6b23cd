import HTTPTypes
import Hummingbird
import Logging

/// The read API's router (`--read-api-listen`): the Tencent-compatible `get_subscriber_info`
/// (UserSig) and the native endpoints (bearer token), both over the mirror of any engine.
public struct ReadAPI: Sendable {
    /// Every successful answer names the sequence it reflects here too, the Tencent-compatible
    /// one included (its body has no place for it).
    static let sequenceHeader = HTTPField.Name("Subscriber-Sync-Sequence")!

    private let tencent: TencentSubscriberInfoEndpoint
    private let native: NativeReadEndpoints

    /// - Parameter readAheadAge: how long a page read ahead of its request may be handed out
    ///   (`PageReadAhead`).
    public init(storage: any SubscriberReads, authenticator: AdminCallAuthenticator, token: String?, clock: any WallClock, logger: Logger,
                readAheadAge: Duration = .milliseconds(250)) {
        let failures = FailureLog(logger: logger, clock: clock, recovered: "the read API reads the store again",
                                  summary: { count, seconds, reason in "\(FailureLog.grouped(count)) read API requests failed in the last \(seconds) s: \(reason)" })
        tencent = TencentSubscriberInfoEndpoint(storage: storage, counts: SubscriberCounts(storage: storage), authenticator: authenticator,
                                                clock: clock, failures: failures,
                                                readAhead: PageReadAhead(maxAge: readAheadAge, bytes: { $0.entries.count }))
        native = NativeReadEndpoints(storage: storage, token: BearerToken(token), failures: failures,
                                     readAhead: PageReadAhead(maxAge: readAheadAge, bytes: \.estimatedBytes))
    }

    /// Once the listener has stopped: lets the pages being read ahead finish before the store
    /// closes, and starts no more.
    public func finish() async {
        await tencent.readAhead.finish()
        await native.readAhead.finish()
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let tencent = self.tencent
        router.post(RouterPath(TencentSubscriberInfoEndpoint.path)) { request, _ in await tencent.respond(to: request) }
        for method in [HTTPRequest.Method.get, .put, .delete, .patch] {
            router.on(RouterPath(TencentSubscriberInfoEndpoint.path), method: method) { _, _ in
                TencentSubscriberInfoEndpoint.failure(TencentErrorCode.httpParse, "get_subscriber_info must be called with POST")
            }
        }
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] {
            router.on("/v4/**", method: method) { request, _ in
                TencentSubscriberInfoEndpoint.failure(TencentErrorCode.unknownPath, "no such REST API here: \(request.uri.path)")
            }
        }
        native.add(to: router)
        return router
    }

    /// As events write `sequence`: 20 digits, so that text order is number order.
    static func sequenceText(_ sequence: Int64) -> String {
        var bytes: [UInt8] = []
        Timestamps.appendDigits(sequence, width: 20, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
