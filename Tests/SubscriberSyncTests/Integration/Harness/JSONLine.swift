import Foundation

/// Reading one line of JSON output (events, export, callback answers) without a schema.
enum JSONLine {
    static func object(_ line: String) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [])
        guard let object = value as? [String: Any] else { throw IntegrationError("not a JSON object: \(line)") }
        return object
    }

    static func int64(_ value: Any?) -> Int64? {
        switch value {
        case let number as NSNumber where !(value is Bool): return number.int64Value
        case let number as Int: return Int64(number)
        case let number as Int64: return number
        default: return nil
        }
    }
}

