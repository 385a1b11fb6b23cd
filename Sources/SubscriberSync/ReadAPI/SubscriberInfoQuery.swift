import NIOCore

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

    static func parse(_ body: ByteBuffer) throws(Problem) -> SubscriberInfoQuery {
        try body.withUnsafeReadableBytes { bytes in Result { () throws(Problem) in try parse(bytes) } }.get()
    }

    static func parse(_ body: UnsafeRawBufferPointer) throws(Problem) -> SubscriberInfoQuery {
        var account: Field<String> = .absent
        var limitField: Field<Int64> = .absent
        var next: Field<String> = .absent
        do {
            try JSONReader.object(body) { reader, key throws(JSONReader.Malformed) in
                switch key {
                case "Official_Account": account = try reader.stringField()
                case "Limit": limitField = try reader.int64Field()
                case "Next": next = try reader.stringField()
                default: try reader.skipValue()
                }
            }
        } catch {
            throw .notJSON
        }
        guard case .present(let account) = account, TencentIdentifier.isValid(account) else {
            throw .invalid("Official_Account is required: an ID of 1 to \(TencentIdentifier.maxBytes) bytes without control characters")
        }
        var limit: Int?
        switch limitField {
        case .absent: break
        case .present(let value) where (1...Int64(maxLimit)).contains(value): limit = Int(value)
        default: throw .invalid("Limit must be an integer from 1 to \(maxLimit)")
        }
        var after: String?
        switch next {
        case .absent: break
        case .wrongType: throw .invalid("Next must be a string")
        case .present(let next):
            if !next.isEmpty {
                guard let subscriber = ReadCursor.decode(next) else { throw .invalid("Next is not a cursor this service issued") }
                after = subscriber
            }
        }
        return SubscriberInfoQuery(account: account, limit: limit, after: after)
    }
}
