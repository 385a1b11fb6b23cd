import Hummingbird
import Logging
import Metrics

/// Handles one POST on the callback path: verify, parse, commit durably (with a forward job per
/// matching `--forward` target), then answer. A before-callback with a matching rule is answered
/// with its target's answer instead.
public struct CallbackHandler: Sendable {
    public static let maxBodyBytes = 1 << 20

    let verifier: CallbackVerifier
    let parser = CallbackBodyParser()
    let storage: any SubscriberStorage
    let logger: Logger
    let metrics = CallbackMetrics()
    let health: CommitHealth
    /// Refusals for a failing store: in a long outage every callback fails the same way.
    let commitFailures: FailureLog
    let forwarding: ForwardOptions
    let beforeRelay: BeforeCallbackRelay?
    let clock: any WallClock
    /// Told after a commit that queued forward jobs (wakes the forwarder).
    let forwardsQueued: @Sendable () -> Void

    public init(verifier: CallbackVerifier, storage: any SubscriberStorage, logger: Logger, health: CommitHealth = CommitHealth(),
                forwarding: ForwardOptions = ForwardOptions(), beforeRelay: BeforeCallbackRelay? = nil, clock: any WallClock = SystemWallClock(),
                forwardsQueued: @escaping @Sendable () -> Void = {}) {
        self.forwardsQueued = forwardsQueued
        self.forwarding = forwarding
        self.beforeRelay = beforeRelay
        self.clock = clock
        self.verifier = verifier
        self.storage = storage
        self.logger = logger
        self.health = health
        commitFailures = FailureLog(
            logger: logger, metricKind: "callback_commit",
            recovered: "callbacks are committed again; the database takes writes",
            summary: { count, seconds, reason in "refused \(FailureLog.grouped(count)) callbacks in the last \(seconds) s: \(reason)" })
    }

    public func handle(_ request: Request) async -> Response {
        let started = ContinuousClock.now
        let callbackQuery = CallbackQuery(urlQuery: request.uri.query)
        let (response, command, outcome) = await respond(request, query: callbackQuery)
        metrics.record(command: command, outcome: outcome, duration: ContinuousClock.now - started)
        return response
    }

    private func respond(_ request: Request, query: CallbackQuery) async -> (Response, String?, String) {
        do throws(CallbackRefusal) {
            try verifier.verify(query: query)
            if let declared = request.headers[.contentLength].flatMap(Int.init), declared > Self.maxBodyBytes {
                throw CallbackRefusal(.tooLarge, "body exceeds \(Self.maxBodyBytes) bytes")
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: Self.maxBodyBytes)
            } catch {
                throw CallbackRefusal(.tooLarge, "body exceeds \(Self.maxBodyBytes) bytes")
            }
            let queryCommand = query.callbackCommand.flatMap { $0.isEmpty ? nil : $0 }
            if let queryCommand, ForwardOptions.isBeforeCallback(queryCommand), let beforeRelay,
               let rule = forwarding.beforeRule(for: queryCommand) {
                let answer = await beforeRelay.relay(to: rule, command: queryCommand, query: request.uri.query ?? "",
                                                     contentType: request.headers[.contentType] ?? "", body: body)
                return (CallbackAnswer.relayed(answer), queryCommand, answer.outcome == .answered ? "relayed" : answer.outcome.rawValue)
            }
            let queryTargets = queryCommand.map { forwarding.afterTargets(for: $0) } ?? []
            func jobs(_ targets: [String], command: String) -> [ForwardJob] {
                let receivedAt = targets.isEmpty ? 0 : clock.nowMilliseconds()
                return targets.map { target in
                    ForwardJob(target: target, delivery: ForwardDeliveryID.next(), command: command, query: request.uri.query ?? "",
                               contentType: request.headers[.contentType] ?? "", body: body, receivedAt: receivedAt)
                }
            }
            // A command passed on but not interpreted here needs no parsing: its body may be anything.
            let command: CallbackCommand
            if let queryCommand, !queryTargets.isEmpty, !CallbackCommand.interpreted.contains(queryCommand) {
                command = .other(name: queryCommand)
            } else {
                do throws(CallbackRefusal) {
                    command = try parser.parse(body: body, queryCommand: query.callbackCommand)
                } catch {
                    // Verified, so the backend behind still gets it, though this service cannot
                    // read it: it passed every check the relay promises. Tencent gets the refusal.
                    if let queryCommand, !queryTargets.isEmpty, !ForwardOptions.isBeforeCallback(queryCommand) {
                        _ = try await apply(.other(name: queryCommand), forwards: jobs(queryTargets, command: queryCommand))
                    }
                    throw error
                }
            }
            let targets = ForwardOptions.isBeforeCallback(command.name) ? []
                : command.name == queryCommand ? queryTargets : forwarding.afterTargets(for: command.name)
            let outcome = try await apply(command, forwards: jobs(targets, command: command.name))
            return (CallbackAnswer.ok(), command.name, outcome)
        } catch {
            // A failing store is logged where it fails (rate-limited); other refusals here.
            if error.reason != .storageUnavailable {
                logger.info("callback refused", metadata: ["reason": "\(error.reason.rawValue)", "detail": "\(error.message)"])
            }
            return (CallbackAnswer.refused(error), query.callbackCommand, "refused_\(error.reason.rawValue)")
        }
    }

    private func apply(_ command: CallbackCommand, forwards: [ForwardJob]) async throws(CallbackRefusal) -> String {
        let change = command.storeChange
        guard change != nil || !forwards.isEmpty else {
            return command == .beforeAddSubscriber ? "allowed" : "ignored"
        }
        let result: ApplyResult
        do {
            result = try await storage.commit(CallbackWrite(change: change, forwards: forwards))
        } catch {
            health.failed()
            commitFailures.failed("could not commit a callback; refusing callbacks with 503 until the database takes writes again",
                                  reason: "\(error)")
            throw CallbackRefusal(.storageUnavailable, "storage unavailable; retry later")
        }
        health.succeeded()
        commitFailures.succeeded()
        if !forwards.isEmpty { forwardsQueued() }
        if result.revived, case .accountCreated(let account, let time)? = change {
            logger.notice("official account created again after its destruction: reconciling it again",
                          metadata: ["account": "\(account)", "created_at": "\(Timestamps.rfc3339(milliseconds: time))"])
        }
        guard change != nil else { return "forwarded" }
        return result.changed > 0 ? "accepted" : "duplicate_or_stale"
    }
}

/// Callback counters and latency through swift-metrics (exported by whatever backend is bootstrapped).
final class CallbackMetrics: Sendable {
    /// Tencent's callback namespaces; anything else is counted as "other" so that a caller cannot
    /// grow the label set without bound.
    static let namespaces: Set<Substring> = ["OfficialAccount", "C2C", "Group", "State", "Sns", "Profile", "Alert", "Push", "Message", "Topic"]
    static let officialAccountCommands: Set<String> = [
        "OfficialAccount.CallbackBeforeCreateOfficialAccount", CallbackCommand.afterAccountCreated,
        "OfficialAccount.CallbackAfterOfficialAccountInfoChanged", CallbackCommand.afterAccountDestroyed,
        CallbackCommand.beforeAddSubscriberName, CallbackCommand.afterAddSubscriber,
        "OfficialAccount.CallbackAfterOfficialAccountFull", CallbackCommand.afterDeleteSubscriber,
        "OfficialAccount.CallbackBeforeSendMsg", "OfficialAccount.CallbackAfterSendMsg", "OfficialAccount.CallbackAfterMsgWithDraw",
    ]

    static func label(for command: String?) -> String {
        guard let command else { return "none" }
        if officialAccountCommands.contains(command) { return command }
        if let namespace = command.split(separator: ".", maxSplits: 1).first, namespaces.contains(namespace) {
            return "\(namespace).other"
        }
        return "other"
    }

    /// Made once per handler rather than per callback: creating a metric looks it up in the
    /// backend's registry under a lock. Both label sets are bounded (`label(for:)`, outcomes).
    private struct CounterKey: Hashable, Sendable {
        var command: String
        var outcome: String
    }

    private let counters = BoundedCache<CounterKey, Counter>(capacity: 512)
    private let duration = Timer(label: "subscriber_sync_callback_duration_seconds")

    func record(command: String?, outcome: String, duration elapsed: Duration) {
        let command = Self.label(for: command)
        let key = CounterKey(command: command, outcome: outcome)
        let counter = counters.lookup(key) ?? {
            let counter = Counter(label: "subscriber_sync_callbacks_total", dimensions: [("command", command), ("outcome", outcome)])
            counters.remember(key, counter)
            return counter
        }()
        counter.increment()
        duration.recordNanoseconds(elapsed.nanoseconds)
    }
}
