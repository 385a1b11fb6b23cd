import NIOCore

/// Turns a callback body into a `CallbackCommand`, refusing anything that lacks a field the command
/// needs or carries it with the wrong type. It never traps: every failure is a `CallbackRefusal`.
public struct CallbackBodyParser: Sendable {
    /// Year 9999; keeps timestamps renderable as RFC 3339.
    static let maxEventTime: Int64 = 253_402_300_799_999

    public init() {}

    public func parse(body: ByteBuffer, queryCommand: String?) throws(CallbackRefusal) -> CallbackCommand {
        let parsed = body.withUnsafeReadableBytes { bytes in Result { () throws(RawCallbackBody.Malformed) in try RawCallbackBody(json: bytes) } }
        guard case .success(let raw) = parsed else {
            throw CallbackRefusal(.malformed, "body is not a JSON object")
        }
        let command: String
        switch raw.command {
        case .present(let value) where !value.isEmpty: command = value
        case .wrongType: throw CallbackRefusal(.malformed, "CallbackCommand must be a string")
        default:
            guard let queryCommand, !queryCommand.isEmpty else {
                throw CallbackRefusal(.malformed, "CallbackCommand is missing")
            }
            command = queryCommand
        }
        switch command {
        case CallbackCommand.afterAddSubscriber:
            return .subscribersAdded(try subscriberCallback(raw))
        case CallbackCommand.afterDeleteSubscriber:
            return .subscribersDeleted(try subscriberCallback(raw))
        case CallbackCommand.beforeAddSubscriberName:
            return .beforeAddSubscriber
        case CallbackCommand.afterAccountDestroyed:
            return .accountDestroyed(account: try identifier(raw.account, "Official_Account"), eventTime: try eventTime(raw))
        case CallbackCommand.afterAccountCreated:
            return .accountCreated(account: try identifier(raw.account, "Official_Account"), eventTime: try eventTime(raw))
        default:
            return .other(name: command)
        }
    }

    private func subscriberCallback(_ raw: RawCallbackBody) throws(CallbackRefusal) -> SubscriberCallback {
        let account = try identifier(raw.account, "Official_Account")
        let operatorAccount: String?
        switch raw.operatorAccount {
        case .absent: operatorAccount = nil
        case .present(let value) where value.isEmpty: operatorAccount = nil
        case .present: operatorAccount = try identifier(raw.operatorAccount, "Operator_Account")
        case .wrongType: throw CallbackRefusal(.malformed, "Operator_Account must be a string")
        }
        guard case .present(let entries) = raw.subscribers else {
            throw CallbackRefusal(.malformed, "SubscribeAccountList must be an array of {\"Subscriber_Account\": string}")
        }
        var subscribers: [String] = []
        subscribers.reserveCapacity(entries.count)
        for entry in entries {
            subscribers.append(try identifier(.present(entry), "Subscriber_Account"))
        }
        return SubscriberCallback(account: account, operatorAccount: operatorAccount, subscribers: subscribers, eventTime: try eventTime(raw))
    }

    private func identifier(_ field: Field<String>, _ name: String) throws(CallbackRefusal) -> String {
        guard case .present(let value) = field else {
            throw CallbackRefusal(.malformed, "\(name) must be a string")
        }
        guard TencentIdentifier.isValid(value) else {
            throw CallbackRefusal(.malformed, "\(name) must be 1 to \(TencentIdentifier.maxBytes) bytes without control characters")
        }
        return value
    }

    private func eventTime(_ raw: RawCallbackBody) throws(CallbackRefusal) -> Int64 {
        guard case .present(let value) = raw.eventTime, value > 0, value <= Self.maxEventTime else {
            throw CallbackRefusal(.malformed, "EventTime must be a positive integer (milliseconds)")
        }
        return value
    }
}
