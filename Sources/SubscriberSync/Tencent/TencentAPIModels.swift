/// Request and answer bodies of the REST calls this service makes, with Tencent's exact field
/// names. Answers are decoded leniently: unknown fields are ignored, `MsgFlag` may be a string or a
/// number, and absent fields are nil rather than errors.

/// The envelope every answer carries.
public struct TencentEnvelope: Decodable, Sendable {
    public var actionStatus: String?
    public var errorCode: Int?
    public var errorInfo: String?

    enum CodingKeys: String, CodingKey {
        case actionStatus = "ActionStatus", errorCode = "ErrorCode", errorInfo = "ErrorInfo"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        actionStatus = try? container.decodeIfPresent(String.self, forKey: .actionStatus)
        errorCode = (try? container.decodeIfPresent(LenientInt.self, forKey: .errorCode))?.value.map(Int.init)
        errorInfo = try? container.decodeIfPresent(String.self, forKey: .errorInfo)
    }
}

/// `v4/official_account_open_http_svc/get_subscriber_info` request.
public struct GetSubscriberInfoRequest: Codable, Sendable, Equatable {
    public var officialAccount: String
    /// At most 200.
    public var limit: Int
    /// `""` for the first page, then the previous answer's `Next`.
    public var next: String

    public static let maxLimit = 200

    public init(officialAccount: String, limit: Int = GetSubscriberInfoRequest.maxLimit, next: String) {
        self.officialAccount = officialAccount
        self.limit = limit
        self.next = next
    }

    enum CodingKeys: String, CodingKey {
        case officialAccount = "Official_Account", limit = "Limit", next = "Next"
    }
}

/// One page of `get_subscriber_info`.
public struct SubscriberPage: Codable, Sendable, Equatable {
    /// Empty string: no more pages. nil: the field was missing (not a complete answer).
    public var next: String?
    /// Subscribers of the whole account, not of this page.
    public var subscriberNum: Int64?
    public var subscribers: [SubscriberInfo]

    public init(next: String?, subscriberNum: Int64?, subscribers: [SubscriberInfo]) {
        self.next = next
        self.subscriberNum = subscriberNum
        self.subscribers = subscribers
    }

    enum CodingKeys: String, CodingKey {
        case next = "Next", subscriberNum = "SubscriberNum", subscribers = "SubscriberList"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        next = try container.decodeIfPresent(String.self, forKey: .next)
        subscriberNum = try container.decodeIfPresent(LenientInt.self, forKey: .subscriberNum)?.value
        subscribers = try container.decodeIfPresent([SubscriberInfo].self, forKey: .subscribers) ?? []
    }
}

/// One entry of `SubscriberList`.
public struct SubscriberInfo: Codable, Sendable, Equatable {
    public var account: String
    /// Unix seconds.
    public var subscribeTime: Int64?
    public var customString: String?
    /// `AcceptAndNotify`, `AcceptNotNotify` or `Discard`; a number is kept as its decimal text.
    public var msgFlag: String?
    /// Unix seconds.
    public var lastSendMsgTime: Int64?

    public init(account: String, subscribeTime: Int64? = nil, customString: String? = nil, msgFlag: String? = nil, lastSendMsgTime: Int64? = nil) {
        self.account = account
        self.subscribeTime = subscribeTime
        self.customString = customString
        self.msgFlag = msgFlag
        self.lastSendMsgTime = lastSendMsgTime
    }

    enum CodingKeys: String, CodingKey {
        case account = "Subscriber_Account", subscribeTime = "SubscribeTime", customString = "CustomString"
        case msgFlag = "MsgFlag", lastSendMsgTime = "LastSendMsgTime"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        account = try container.decode(String.self, forKey: .account)
        subscribeTime = try container.decodeIfPresent(LenientInt.self, forKey: .subscribeTime)?.value
        customString = try container.decodeIfPresent(String.self, forKey: .customString)
        msgFlag = try container.decodeIfPresent(LenientString.self, forKey: .msgFlag)?.value
        lastSendMsgTime = try container.decodeIfPresent(LenientInt.self, forKey: .lastSendMsgTime)?.value
    }
}

/// An integer that may arrive as a JSON number or a numeric string.
struct LenientInt: Decodable {
    var value: Int64?
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) { value = number }
        else if let text = try? container.decode(String.self) { value = Int64(text) }
        else if container.decodeNil() { value = nil }
        else { throw DecodingError.typeMismatch(Int64.self, .init(codingPath: decoder.codingPath, debugDescription: "not an integer")) }
    }
}

/// A string that may arrive as a JSON number (the Java SDK types `MsgFlag` as an integer).
struct LenientString: Decodable {
    var value: String?
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) { value = text }
        else if let number = try? container.decode(Int64.self) { value = String(number) }
        else if container.decodeNil() { value = nil }
        else { throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath, debugDescription: "not a string")) }
    }
}
