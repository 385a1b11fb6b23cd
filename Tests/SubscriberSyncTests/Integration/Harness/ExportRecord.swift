import Foundation

/// One line of `subscriber-sync export`.
struct ExportRecord: Equatable, Sendable, CustomStringConvertible {
    var officialAccount: String?
    var subscriber: String?
    var subscribeTime: Int64?
    var msgFlag: String?
    var customString: String?
    var lastSendMsgTime: Int64?
    var since: Int64?
    var origin: String?
    /// The keys present in the line, sorted (a null counts as present).
    var keys: [String]

    static let allKeys = ["customString", "lastSendMsgTime", "msgFlag", "officialAccount", "origin", "since", "subscribeTime", "subscriber"]

    init(officialAccount: String, subscriber: String, since: Int64, origin: String = "webhook",
         subscribeTime: Int64? = nil, msgFlag: String? = nil, customString: String? = nil, lastSendMsgTime: Int64? = nil) {
        self.officialAccount = officialAccount
        self.subscriber = subscriber
        self.since = since
        self.origin = origin
        self.subscribeTime = subscribeTime
        self.msgFlag = msgFlag
        self.customString = customString
        self.lastSendMsgTime = lastSendMsgTime
        keys = Self.allKeys
    }

    init(line: String) throws {
        let object = try JSONLine.object(line)
        officialAccount = object["officialAccount"] as? String
        subscriber = object["subscriber"] as? String
        subscribeTime = JSONLine.int64(object["subscribeTime"])
        msgFlag = object["msgFlag"] as? String
        customString = object["customString"] as? String
        lastSendMsgTime = JSONLine.int64(object["lastSendMsgTime"])
        since = JSONLine.int64(object["since"])
        origin = object["origin"] as? String
        keys = object.keys.sorted()
    }

    var description: String {
        "\(officialAccount ?? "nil")/\(subscriber ?? "nil") since=\(since.map(String.init) ?? "nil") origin=\(origin ?? "nil") keys=\(keys)"
    }
}
