import Foundation

/// Callback bodies shaped like Tencent's samples.
enum CallbackBodies {
    static func json(_ object: [String: Any]) -> [UInt8] {
        // JSONSerialization escapes "/" but otherwise writes what Tencent would.
        [UInt8]((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    static func subscribers(command: String, account: String, operatorAccount: String?, subscribers: [String], eventTime: Int64) -> [UInt8] {
        var object: [String: Any] = [
            "CallbackCommand": command,
            "Official_Account": account,
            "SubscribeAccountList": subscribers.map { ["Subscriber_Account": $0] },
            "EventTime": NSNumber(value: eventTime),
        ]
        if let operatorAccount { object["Operator_Account"] = operatorAccount }
        return json(object)
    }

    /// An account-level callback: `CallbackAfterOfficialAccountDestroyed` or `CallbackAfterCreateOfficialAccount`.
    static func accountCallback(_ command: String, account: String, eventTime: Int64) -> [UInt8] {
        json([
            "CallbackCommand": command,
            "Official_Account": account,
            "Owner_Account": "owner",
            "Name": "integration",
            "EventTime": NSNumber(value: eventTime),
        ])
    }
}
