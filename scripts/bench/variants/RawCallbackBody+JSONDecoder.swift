// The JSONDecoder variant of the callback body reader, for scripts/bench/body-reader.sh only: it
// replaces Sources/SubscriberSync/Callbacks/RawCallbackBody.swift in a throwaway worktree, so that
// the hand-written reader can be measured against Foundation's. Not part of any build of main.
import Foundation

enum Field<Value: Sendable>: Sendable {
    case absent
    case present(Value)
    case wrongType
}

struct RawCallbackBody: Sendable {
    var command: Field<String> = .absent
    var account: Field<String> = .absent
    var operatorAccount: Field<String> = .absent
    var subscribers: Field<[String]> = .absent
    var eventTime: Field<Int64> = .absent

    struct Malformed: Error {}

    private struct Entry: Decodable {
        var Subscriber_Account: String
    }

    /// Each field decoded leniently: absent, of the expected type, or of another type.
    private struct Body: Decodable {
        var command: Field<String> = .absent
        var account: Field<String> = .absent
        var operatorAccount: Field<String> = .absent
        var subscribers: Field<[String]> = .absent
        var eventTime: Field<Int64> = .absent

        enum Key: String, CodingKey {
            case CallbackCommand, Official_Account, Operator_Account, SubscribeAccountList, EventTime
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            func field<T: Decodable>(_ type: T.Type, _ key: Key) -> Field<T> {
                guard container.contains(key) else { return .absent }
                return (try? container.decode(T.self, forKey: key)).map { .present($0) } ?? .wrongType
            }
            command = field(String.self, .CallbackCommand)
            account = field(String.self, .Official_Account)
            operatorAccount = field(String.self, .Operator_Account)
            eventTime = field(Int64.self, .EventTime)
            switch field([Entry].self, .SubscribeAccountList) {
            case .absent: subscribers = .absent
            case .wrongType: subscribers = .wrongType
            case .present(let entries): subscribers = .present(entries.map(\.Subscriber_Account))
            }
        }
    }

    init(json bytes: UnsafeRawBufferPointer) throws(Malformed) {
        do {
            let body = try JSONDecoder().decode(Body.self, from: Data(bytes))
            (command, account, operatorAccount, subscribers, eventTime) =
                (body.command, body.account, body.operatorAccount, body.subscribers, body.eventTime)
        } catch {
            throw Malformed()
        }
    }
}
