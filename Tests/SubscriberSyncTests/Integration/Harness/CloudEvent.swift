import Foundation

/// One CloudEvents line of the events output.
struct CloudEvent: Sendable, CustomStringConvertible {
    var line: String
    var specversion: String?
    var id: String
    var source: String?
    var type: String
    var subject: String?
    var sequenceText: String
    var sequence: Int64
    var dataAccount: String?
    var dataSubscriber: String?
    var dataOrigin: String?

    init(line: String) throws {
        self.line = line
        let object = try JSONLine.object(line)
        guard let id = object["id"] as? String, let type = object["type"] as? String,
              let sequenceText = object["sequence"] as? String else {
            throw IntegrationError("event without id, type or sequence: \(line)")
        }
        guard sequenceText.utf8.count == 20, sequenceText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let sequence = Int64(sequenceText) else {
            throw IntegrationError("sequence is not 20 zero-padded digits: \(sequenceText)")
        }
        self.id = id
        self.type = type
        self.sequenceText = sequenceText
        self.sequence = sequence
        specversion = object["specversion"] as? String
        source = object["source"] as? String
        subject = object["subject"] as? String
        let data = object["data"] as? [String: Any]
        dataAccount = data?["officialAccount"] as? String
        dataSubscriber = data?["subscriber"] as? String
        dataOrigin = data?["origin"] as? String
    }

    var isSubscribed: Bool { type.hasSuffix("subscriber.subscribed") }
    var isUnsubscribed: Bool { type.hasSuffix("subscriber.unsubscribed") }

    /// "subscribed"/"unsubscribed"/the type, for compact comparisons.
    var kind: String { isSubscribed ? "subscribed" : isUnsubscribed ? "unsubscribed" : type }

    var description: String { "#\(sequence) \(kind) \(subject ?? "nil") (\(id))" }
}

