import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat

/// Calls Tencent's REST API correctly (UserSig, query parameters), politely (paced, backing off
/// when told) and under failure (every outcome classified: retry, slow down, re-sign or fail).
public final class TencentClient: Sendable {
    public static let officialAccountService = "official_account_open_http_svc"
    static let maxAnswerBytes = 32 << 20

    public let configuration: TencentClientConfiguration
    public let pacer: Pacer
    private let userSig: UserSigCache
    private let httpClient: HTTPClient
    private let logger: Logger
    private let transientBackoff: Backoff
    private let slowDownBackoff: Backoff
    /// Failed attempts: one line for the first of a run, then a count every 10 s (a long outage
    /// fails every attempt of every page the same way).
    private let failures: FailureLog

    public init(configuration: TencentClientConfiguration, httpClient: HTTPClient = .shared, logger: Logger,
                clock: any WallClock = SystemWallClock(), transientBackoff: Backoff = .transient, slowDownBackoff: Backoff = .slowDown) {
        self.configuration = configuration
        self.pacer = Pacer(limit: configuration.rateLimit)
        self.userSig = UserSigCache(secretKey: configuration.secretKey, sdkAppID: configuration.sdkAppID,
                                    identifier: configuration.identifier, validitySeconds: configuration.userSigValiditySeconds, clock: clock)
        self.httpClient = httpClient
        self.logger = logger
        self.transientBackoff = transientBackoff
        self.slowDownBackoff = slowDownBackoff
        failures = FailureLog(
            logger: logger, clock: clock, recovered: "REST calls succeed again",
            summary: { count, seconds, reason in "\(FailureLog.grouped(count)) REST calls failed in the last \(seconds) s: \(reason)" })
    }

    /// One page of an account's subscribers.
    public func getSubscriberInfo(_ request: GetSubscriberInfoRequest) async throws(TencentCallError) -> SubscriberPage {
        try await call(command: "get_subscriber_info", body: request, answer: SubscriberPage.self)
    }

    /// POSTs `body` to `/v4/<service>/<command>` and decodes the answer, retrying as classified.
    public func call<Body: Encodable & Sendable, Answer: Decodable>(
        service: String = TencentClient.officialAccountService, command: String, body: Body, answer: Answer.Type
    ) async throws(TencentCallError) -> Answer {
        let payload: ByteBuffer
        do {
            payload = ByteBuffer(data: try JSONEncoder().encode(body))
        } catch {
            throw TencentCallError(kind: .unparseable, command: command, attempts: 0, message: "cannot encode the request: \(error)")
        }
        var attempt = 0
        var resigned = false
        while true {
            attempt += 1
            do {
                try await pacer.acquire()
            } catch {
                throw TencentCallError(kind: .shutdown, command: command, attempts: attempt - 1, message: "cancelled")
            }
            let outcome = await send(service: service, command: command, payload: payload, answer: answer)
            switch outcome {
            case .success(let value):
                RESTMetrics.record(command: command, result: "0")
                failures.succeeded()
                return value
            case .failure(var error):
                error.attempts = attempt
                RESTMetrics.record(command: command, result: error.metricLabel)
                failures.failed("REST call failed", reason: "\(command): \(error.message)",
                                metadata: ["command": "\(command)", "attempt": "\(attempt)", "error": "\(error.message)"], level: .warning)
                let delay: Duration
                switch error.disposition {
                case .fail:
                    throw error
                case .resign:
                    guard !resigned else { throw error }
                    resigned = true
                    userSig.invalidate()
                    logger.notice("Tencent refused the admin UserSig; signing a new one", metadata: ["command": "\(command)", "code": "\(error.errorCode ?? 0)"])
                    continue
                case .retry:
                    guard attempt < configuration.maxAttempts else { throw error }
                    delay = transientBackoff.delay(attempt: attempt)
                case .slowDown:
                    pacer.slowDown()
                    guard attempt < configuration.maxAttempts else { throw error }
                    delay = slowDownBackoff.delay(attempt: attempt)
                }
                logger.debug("retrying a REST call", metadata: ["command": "\(command)", "attempt": "\(attempt)", "retry_in_ms": "\(delay.milliseconds)"])
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    throw TencentCallError(kind: .shutdown, command: command, attempts: attempt, message: "cancelled while waiting to retry")
                }
            }
        }
    }

    private func send<Answer: Decodable>(service: String, command: String, payload: ByteBuffer, answer: Answer.Type) async -> Result<Answer, TencentCallError> {
        func failure(_ kind: TencentCallError.Kind, _ message: String) -> Result<Answer, TencentCallError> {
            .failure(TencentCallError(kind: kind, command: command, attempts: 0, message: message))
        }
        let sig: String
        do {
            sig = try userSig.current()
        } catch {
            return failure(.unparseable, "cannot make a UserSig: \(error)")
        }
        var request = HTTPClientRequest(url: url(service: service, command: command, userSig: sig))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(payload)
        let body: ByteBuffer
        do {
            let response = try await httpClient.execute(request, timeout: TimeAmount(configuration.timeout))
            body = try await response.body.collect(upTo: Self.maxAnswerBytes)
            guard response.status == .ok else {
                return failure(.httpStatus(Int(response.status.code)), "HTTP \(response.status.code) from Tencent")
            }
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return failure(.timeout, "no answer within \(configuration.timeout)")
        } catch {
            return failure(.network, "network error: \(Self.describe(error))")
        }
        let envelope: TencentEnvelope
        do {
            envelope = try JSONDecoder().decode(TencentEnvelope.self, from: body)
        } catch {
            return failure(.unparseable, "answer is not JSON")
        }
        let code = envelope.errorCode ?? 0
        if code != 0 || (envelope.actionStatus.map { $0 != "OK" } ?? false) {
            let advice = TencentErrorCatalog.entries[code]?.advice ?? "see Tencent's error code table"
            // ErrorInfo ends up in events and logs: bounded, as Tencent's answers are not.
            let info = String((envelope.errorInfo ?? "").prefix(256))
            return failure(.tencent(code), "ErrorCode \(code) (\(info)): \(advice)")
        }
        do {
            return .success(try JSONDecoder().decode(Answer.self, from: body))
        } catch {
            return failure(.unparseable, "answer does not have the expected fields: \(error)")
        }
    }

    /// `?sdkappid=…&identifier=…&usersig=…&random=…&contenttype=json`, with a fresh random uint32.
    private func url(service: String, command: String, userSig: String) -> String {
        let random = UInt32.random(in: .min ... .max)
        return "\(configuration.baseURL)/v4/\(service)/\(command)?sdkappid=\(configuration.sdkAppID)"
            + "&identifier=\(PercentEncoding.encode(configuration.identifier))&usersig=\(PercentEncoding.encode(userSig))"
            + "&random=\(random)&contenttype=json"
    }

    /// Error text without the request URL (which carries the UserSig).
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        return String(describing: type(of: error)) + ": " + "\(error)".prefix(200)
    }
}
