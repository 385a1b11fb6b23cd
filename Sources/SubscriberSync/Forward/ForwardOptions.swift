/// How callbacks are passed on to the app's existing backend (`--forward` and its companions).
public struct ForwardOptions: Sendable {
    /// What Tencent hears when a before-callback's target fails or is too slow.
    public enum Fallback: String, Sendable, CaseIterable {
        /// `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`: let the action happen.
        case allow
        /// `ErrorCode` 1: refuse it.
        case deny
    }

    public var rules: [ForwardRule]
    /// How long a before-callback waits for its target.
    public var timeout: Duration
    public var beforeFallback: Fallback
    /// Signs forwarded requests (`Sign = sha256(token + RequestTime)`); nil: sent unsigned.
    /// A secret: never logged.
    public var token: String?
    /// How long an after-callback's job is retried before it is dead-lettered (ms).
    public var maxAgeMilliseconds: Int64
    /// Deliveries to one target at once. 1 (the default) keeps the target's order; more trades
    /// it for throughput (started in order, they may arrive in any order, as Tencent's own do).
    public var concurrency: Int
    /// Requests on one target's connection at once (HTTP/1.1 pipelining), in order. 1 (the
    /// default): one exchange at a time through AsyncHTTPClient.
    public var pipeline: Int

    public init(rules: [ForwardRule] = [], timeout: Duration = .milliseconds(1_500), beforeFallback: Fallback = .allow,
                token: String? = nil, maxAgeMilliseconds: Int64 = 86_400_000, concurrency: Int = 1, pipeline: Int = 1) {
        self.concurrency = concurrency
        self.pipeline = pipeline
        self.rules = rules
        self.timeout = timeout
        self.beforeFallback = beforeFallback
        self.token = token
        self.maxAgeMilliseconds = maxAgeMilliseconds
    }

    /// Before-callbacks wait for their target's answer; everything else is queued.
    public static func isBeforeCallback(_ command: String) -> Bool {
        command.contains(".CallbackBefore")
    }

    /// The one rule a before-callback goes to: the first that matches.
    public func beforeRule(for command: String) -> ForwardRule? {
        rules.first { $0.matches(command) }
    }

    /// The targets an after-callback goes to: every matching rule's, each once.
    public func afterTargets(for command: String) -> [String] {
        var targets: [String] = []
        for rule in rules where rule.matches(command) && !targets.contains(rule.url) {
            targets.append(rule.url)
        }
        return targets
    }
}
