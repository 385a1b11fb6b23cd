/// A field of a JSON request body as found: absent, present with the wrong type (or null), or
/// present. Tencent-style APIs answer each case with its own error code, so a body is decoded with
/// `KeyedDecodingContainer.field` rather than failing on the first problem.
public enum JSONBodyField<Value> {
    case missing, invalid, value(Value)
}

/// Any key of a JSON object body, by name.
public struct JSONBodyKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(_ name: String) { stringValue = name }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer where Key == JSONBodyKey {
    /// JSONDecoder reads neither `true` nor `1.5` nor `"7"` as an Int: each is `.invalid`.
    public func field<Value: Decodable>(_ name: String, as type: Value.Type) -> JSONBodyField<Value> {
        let key = JSONBodyKey(name)
        guard contains(key) else { return .missing }
        guard let value = try? decode(Value.self, forKey: key) else { return .invalid }
        return .value(value)
    }
}
