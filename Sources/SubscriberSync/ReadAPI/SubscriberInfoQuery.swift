import Foundation

/// A `get_subscriber_info` request body, checked as Tencent documents it: a JSON object with
/// `Official_Account` (required), `Limit` (optional, 1 to 200) and `Next` (`""` or a cursor of
/// ours; absent reads as `""`).
struct SubscriberInfoQuery: Equatable {
    static let maxLimit = 200

    var account: String
    /// nil: every subscriber in one streamed answer.
    var limit: Int?
    /// The subscriber to continue after; nil for the first page.
    var after: String?

    enum Problem: Error, Equatable {
        /// Not JSON, or not an object: 20001.
        case notJSON
        /// A field missing, of a wrong type or out of range: 6017.
        case invalid(String)

        var refusal: AdminCallAuthenticator.Refusal {
            switch self {
            case .notJSON: AdminCallAuthenticator.Refusal(TencentErrorCode.invalidPacket, "the request body is not a JSON object")
            case .invalid(let why): AdminCallAuthenticator.Refusal(TencentErrorCode.invalidParameter, why)
            }
        }
    }

    static func parse(_ body: [UInt8]) throws(Problem) -> SubscriberInfoQuery {
        let fields: Fields
        do {
            fields = try JSONDecoder().decode(Fields.self, from: Data(body))
        } catch {
            throw .notJSON
        }
        guard case .value(let account) = fields.account, TencentIdentifier.isValid(account) else {
            throw .invalid("Official_Account is required: an ID of 1 to \(TencentIdentifier.maxBytes) bytes without control characters")
        }
        var limit: Int?
        switch fields.limit {
        case .missing: break
        case .value(let value) where (1...maxLimit).contains(value): limit = value
        default: throw .invalid("Limit must be an integer from 1 to \(maxLimit)")
        }
        var after: String?
        switch fields.next {
        case .missing: break
        case .invalid: throw .invalid("Next must be a string")
        case .value(let next):
            if !next.isEmpty {
                guard let subscriber = ReadCursor.decode(next) else { throw .invalid("Next is not a cursor this service issued") }
                after = subscriber
            }
        }
        return SubscriberInfoQuery(account: account, limit: limit, after: after)
    }

    /// Decoding throws only when the body is not a JSON object; a field of the wrong type is
    /// `.invalid`.
    private struct Fields: Decodable {
        var account: JSONBodyField<String>
        var limit: JSONBodyField<Int>
        var next: JSONBodyField<String>

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: JSONBodyKey.self)
            account = container.field("Official_Account", as: String.self)
            limit = container.field("Limit", as: Int.self)
            next = container.field("Next", as: String.self)
        }
    }
}
