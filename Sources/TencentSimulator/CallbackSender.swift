import AsyncHTTPClient
import Hummingbird
import SubscriberSync
import Synchronization

/// Posts Tencent callbacks to a URL exactly as the Chat backend does (protocol reference §1–§2):
/// `POST <url>?SdkAppid=…&CallbackCommand=…&contenttype=json&ClientIP=…&OptPlatform=RESTAPI`, plus
/// `Sign` (lowercase hex SHA-256 of token + RequestTime) and `RequestTime` (Unix seconds) when a
/// token is configured; JSON body with `CallbackCommand` and `EventTime` in milliseconds.
///
/// Knobs for playing an unreliable Chat backend: each callback can be delivered, dropped,
/// delivered twice, or held back and released later (in reverse order to reorder them).
public final class CallbackSender: Sendable {
    public enum Mode: String, Sendable, Equatable {
        /// Post once.
        case deliver
        /// Do not post (a lost callback; Tencent does not retry by default).
        case drop
        /// Post twice (a retried callback).
        case duplicate
        /// Keep it until `releaseHeld`.
        case hold
    }

    /// One POST and its answer.
    public struct Delivery: Sendable, Equatable {
        public var command: String
        public var status: Int
        public var body: String
        /// The `RequestTime` sent, when signed.
        public var requestTime: String?
    }

    public let url: String
    public let sdkAppID: UInt64
    public let clientIP: String
    public let optPlatform: String
    public let timeout: Duration
    private let signature: CallbackSignature?
    private let client: HTTPClient
    private let clock: any WallClock
    private let state = Mutex(State())

    private struct Pending: Sendable {
        var command: String
        var body: [UInt8]
    }

    private struct State: Sendable {
        var planned: [Mode] = []
        var held: [Pending] = []
        var deliveries: [Delivery] = []
        var dropped = 0
    }

    /// - Parameters:
    ///   - url: the callback URL as configured in the Chat console (may carry its own query).
    ///   - token: the callback authentication token; nil sends unsigned callbacks.
    public init(url: String, sdkAppID: UInt64, token: String?, httpClient: HTTPClient = .shared,
                clock: any WallClock = SystemWallClock(), clientIP: String = "127.0.0.1", optPlatform: String = "RESTAPI",
                timeout: Duration = .seconds(2)) {
        self.url = url
        self.sdkAppID = sdkAppID
        self.signature = token.map(CallbackSignature.init(token:))
        self.client = httpClient
        self.clock = clock
        self.clientIP = clientIP
        self.optPlatform = optPlatform
        self.timeout = timeout
    }

    // MARK: Knobs

    /// The next `times` callbacks sent without an explicit mode get `mode`.
    public func plan(_ mode: Mode, times: Int = 1) {
        guard times > 0 else { return }
        state.withLock { $0.planned.append(contentsOf: repeatElement(mode, count: times)) }
    }

    /// Callbacks held back, not yet sent.
    public var heldCount: Int { state.withLock { $0.held.count } }

    /// Callbacks dropped so far.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    /// Every POST made so far, in order.
    public var deliveries: [Delivery] { state.withLock { $0.deliveries } }

    /// Sends the held callbacks, newest first by default (so that they arrive out of order), each
    /// signed at the time it is actually sent.
    @discardableResult
    public func releaseHeld(reversed: Bool = true) async throws -> [Delivery] {
        let held = state.withLock { state -> [Pending] in
            defer { state.held.removeAll() }
            return state.held
        }
        var deliveries: [Delivery] = []
        for pending in reversed ? held.reversed() : held {
            deliveries.append(try await post(command: pending.command, body: pending.body))
        }
        return deliveries
    }

    // MARK: Sending

    /// Sends one callback body; returns the POSTs made (none when dropped or held).
    @discardableResult
    public func send(command: String, body: [UInt8], mode: Mode? = nil) async throws -> [Delivery] {
        let mode = mode ?? state.withLock { $0.planned.isEmpty ? .deliver : $0.planned.removeFirst() }
        switch mode {
        case .drop:
            state.withLock { $0.dropped += 1 }
            return []
        case .hold:
            state.withLock { $0.held.append(Pending(command: command, body: body)) }
            return []
        case .deliver:
            return [try await post(command: command, body: body)]
        case .duplicate:
            let first = try await post(command: command, body: body)
            return [first, try await post(command: command, body: body)]
        }
    }

    /// `OfficialAccount.CallbackAfterAddSubscriber`.
    @discardableResult
    public func subscribersAdded(account: String, subscribers: [String], operator operatorAccount: String, eventTime: Int64, mode: Mode? = nil) async throws -> [Delivery] {
        let command = Self.afterAddSubscriber
        return try await send(command: command, body: Self.subscriberBody(command: command, account: account, operator: operatorAccount, subscribers: subscribers, eventTime: eventTime), mode: mode)
    }

    /// `OfficialAccount.CallbackAfterDeleteSubscriber` (unsubscribe or removal).
    @discardableResult
    public func subscribersDeleted(account: String, subscribers: [String], operator operatorAccount: String, eventTime: Int64, mode: Mode? = nil) async throws -> [Delivery] {
        let command = Self.afterDeleteSubscriber
        return try await send(command: command, body: Self.subscriberBody(command: command, account: account, operator: operatorAccount, subscribers: subscribers, eventTime: eventTime), mode: mode)
    }

    /// `OfficialAccount.CallbackAfterOfficialAccountDestroyed`.
    @discardableResult
    public func accountDestroyed(account: String, owner: String, name: String, eventTime: Int64, mode: Mode? = nil) async throws -> [Delivery] {
        var json = JSONBytes(capacity: 256)
        json.byte(UInt8(ascii: "{"))
        json.key("CallbackCommand"); json.string(Self.afterAccountDestroyed); json.byte(UInt8(ascii: ","))
        json.key("Official_Account"); json.string(account); json.byte(UInt8(ascii: ","))
        json.key("Owner_Account"); json.string(owner); json.byte(UInt8(ascii: ","))
        json.key("Name"); json.string(name); json.byte(UInt8(ascii: ","))
        json.key("EventTime"); json.int(eventTime)
        json.byte(UInt8(ascii: "}"))
        return try await send(command: Self.afterAccountDestroyed, body: json.bytes, mode: mode)
    }

    public static let afterAddSubscriber = "OfficialAccount.CallbackAfterAddSubscriber"
    public static let afterDeleteSubscriber = "OfficialAccount.CallbackAfterDeleteSubscriber"
    public static let afterAccountDestroyed = "OfficialAccount.CallbackAfterOfficialAccountDestroyed"

    /// The body of the add/delete subscriber callbacks, keys in the documented sample's order.
    public static func subscriberBody(command: String, account: String, operator operatorAccount: String, subscribers: [String], eventTime: Int64) -> [UInt8] {
        var json = JSONBytes(capacity: 160 + subscribers.count * 40)
        json.byte(UInt8(ascii: "{"))
        json.key("CallbackCommand"); json.string(command); json.byte(UInt8(ascii: ","))
        json.key("Official_Account"); json.string(account); json.byte(UInt8(ascii: ","))
        json.key("Operator_Account"); json.string(operatorAccount); json.byte(UInt8(ascii: ","))
        json.key("SubscribeAccountList"); json.byte(UInt8(ascii: "["))
        for (index, subscriber) in subscribers.enumerated() {
            if index > 0 { json.byte(UInt8(ascii: ",")) }
            json.byte(UInt8(ascii: "{")); json.key("Subscriber_Account"); json.string(subscriber); json.byte(UInt8(ascii: "}"))
        }
        json.byte(UInt8(ascii: "]")); json.byte(UInt8(ascii: ","))
        json.key("EventTime"); json.int(eventTime)
        json.byte(UInt8(ascii: "}"))
        return json.bytes
    }

    /// The full URL for a callback sent at `requestTime` (Unix seconds).
    public func url(command: String, requestTime: Int64) -> String {
        var parameters: [(String, String)] = [
            ("SdkAppid", String(sdkAppID)), ("CallbackCommand", command), ("contenttype", "json"),
            ("ClientIP", clientIP), ("OptPlatform", optPlatform),
        ]
        if let signature {
            let time = String(requestTime)
            parameters.append(("Sign", signature.sign(requestTime: time)))
            parameters.append(("RequestTime", time))
        }
        let query = parameters.map { "\($0.0)=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
        return url + (url.contains("?") ? "&" : "?") + query
    }

    private func post(command: String, body: [UInt8]) async throws -> Delivery {
        let requestTime = clock.nowMilliseconds() / 1000
        var request = HTTPClientRequest(url: url(command: command, requestTime: requestTime))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .init(timeout))
        let answer = try await response.body.collect(upTo: 1 << 20)
        let delivery = Delivery(command: command, status: Int(response.status.code), body: String(buffer: answer),
                                requestTime: signature == nil ? nil : String(requestTime))
        state.withLock { $0.deliveries.append(delivery) }
        return delivery
    }
}
