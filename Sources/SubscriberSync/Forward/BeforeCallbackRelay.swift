import AsyncHTTPClient
import Logging
import NIOCore

/// Passes a before-callback (a moderation hook that may block or rewrite) to its target and
/// brings back the target's answer, or the configured fallback when the target fails, answers
/// non-2xx or takes longer than `--forward-timeout`. Nothing is stored: Tencent waits 2 s and
/// does not retry, so a later delivery would answer nobody.
public struct BeforeCallbackRelay: Sendable {
    public enum Outcome: String, Sendable {
        case answered
        case fallbackTimeout = "fallback_timeout"
        case fallbackFailure = "fallback_failure"
    }

    /// What to send back to Tencent.
    public struct Answer: Sendable {
        public var status: Int
        public var contentType: String?
        public var body: ByteBuffer
        public var outcome: Outcome
    }

    static let maxAnswerBytes = 1 << 20

    let options: ForwardOptions
    let httpClient: HTTPClient
    let clock: any WallClock
    let logger: Logger
    let metrics: ForwardMetrics
    private let signature: CallbackSignature?
    /// Per target: a target that is down fails every before-callback the same way.
    private let failures: [String: FailureLog]
    /// Each rule's target as metrics and logs name it (`ForwardRule.displayName`).
    private let names: [String: String]

    public init(options: ForwardOptions, httpClient: HTTPClient, clock: any WallClock, logger: Logger) {
        self.options = options
        self.httpClient = httpClient
        self.clock = clock
        self.logger = logger
        metrics = ForwardMetrics()
        signature = options.token.map(CallbackSignature.init(token:))
        var failures: [String: FailureLog] = [:]
        var names: [String: String] = [:]
        for rule in options.rules where failures[rule.url] == nil {
            let target = ForwardRule.displayName(rule.url)
            names[rule.url] = target
            failures[rule.url] = FailureLog(
                logger: logger, clock: clock, recovered: "the before-callback target answers again",
                summary: { count, seconds, reason in
                    "answered \(FailureLog.grouped(count)) before-callbacks with the fallback in the last \(seconds) s (target \(target)): \(reason)"
                })
        }
        self.failures = failures
        self.names = names
    }

    /// A rule's target as metrics and logs name it, worked out once rather than per callback.
    private func name(_ rule: ForwardRule) -> String {
        names[rule.url] ?? ForwardRule.displayName(rule.url)
    }

    public func relay(to rule: ForwardRule, command: String, query: String, contentType: String, body: ByteBuffer) async -> Answer {
        let target = name(rule)
        let request = ForwardRequest.make(target: rule.url, query: query, contentType: contentType, body: body,
                                          delivery: ForwardDeliveryID.next(), signature: signature, now: clock.nowMilliseconds())
        let limit = options.timeout
        do {
            // One deadline for the whole exchange, the answer's body included.
            let response = try await httpClient.execute(request, deadline: .now() + .nanoseconds(limit.nanoseconds))
            let status = Int(response.status.code)
            let body = try await response.body.collect(upTo: Self.maxAnswerBytes)
            guard (200..<300).contains(status) else {
                return fallback(.fallbackFailure, rule: rule, command: command, reason: "answered HTTP \(status)")
            }
            metrics.before(target: target, outcome: .answered)
            failures[rule.url]?.succeeded()
            return Answer(status: status, contentType: response.headers.first(name: "Content-Type"), body: body, outcome: .answered)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return fallback(.fallbackTimeout, rule: rule, command: command, reason: "no answer within \(limit)")
        } catch {
            return fallback(.fallbackFailure, rule: rule, command: command, reason: "\(error)")
        }
    }

    private func fallback(_ outcome: Outcome, rule: ForwardRule, command: String, reason: String) -> Answer {
        let target = name(rule)
        metrics.before(target: target, outcome: outcome)
        failures[rule.url]?.failed("before-callback target failed; answered Tencent with the fallback", reason: reason,
                                   metadata: ["target": "\(target)", "command": "\(command)", "fallback": "\(options.beforeFallback.rawValue)"],
                                   level: .warning)
        let code = options.beforeFallback == .allow ? 0 : 1
        return Answer(status: 200, contentType: "application/json",
                      body: ByteBuffer(string: #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":\#(code)}"#), outcome: outcome)
    }
}

/// `Subscriber-Sync-Delivery` ids: UUID-shaped, unique across processes (see `EventIDGenerator`).
enum ForwardDeliveryID {
    private static let generator = EventIDGenerator()
    static func next() -> String { generator.next() }
}
