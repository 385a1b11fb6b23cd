import Configuration
import Foundation

extension ServiceSettings.Key {
    var configKey: ConfigKey { ConfigKey(rawValue) }
}

/// One setting as its source holds it: text from a flag, the environment or a YAML file; a number
/// from a JSON file, which types its values (a JSON boolean reads as the integer 0 or 1).
enum SettingValue: Equatable {
    case text(String)
    case integer(Int)
    case number(Double)

    /// The value as given, for messages and for settings that are text.
    var text: String {
        switch self {
        case .text(let value): value
        case .integer(let value): String(value)
        case .number(let value): String(value)
        }
    }
}

extension ConfigReader {
    /// The typed read that matches the setting's source. Text first: flags, the environment and a
    /// YAML file answer every scalar as text, so they win over a JSON file below them; a read in the
    /// wrong form fails without asking the next source.
    func setting(_ key: ServiceSettings.Key) -> SettingValue? {
        if let value = string(forKey: key.configKey) { return .text(value) }
        if let value = int(forKey: key.configKey) { return .integer(value) }
        if let value = double(forKey: key.configKey) { return .number(value) }
        return nil
    }

    /// A setting that is text; a JSON number counts as its text (`"sdkappid": 1400000000`).
    func text(_ key: ServiceSettings.Key) -> String? {
        setting(key)?.text
    }

    /// An integer setting within `range`; text may have spaces around it.
    func integer(_ key: ServiceSettings.Key, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let setting = setting(key) else { return nil }
        let value: Int64? = switch setting {
        case .text(let text): Int64(text.trimmingCharacters(in: .whitespaces))
        case .integer(let number): Int64(number)
        case .number: nil
        }
        guard let value, range.contains(value) else {
            throw ServiceSettings.Invalid("\(key.rawValue) must be an integer in \(range.lowerBound)...\(range.upperBound), got \"\(setting.text)\"")
        }
        return value
    }

    /// A number from 0 to 1.
    func fraction(_ key: ServiceSettings.Key) throws -> Double? {
        guard let setting = setting(key) else { return nil }
        let value: Double? = switch setting {
        case .text(let text): Double(text)
        case .integer(let number): Double(number)
        case .number(let number): number
        }
        guard let value, value >= 0, value <= 1 else {
            throw ServiceSettings.Invalid("\(key.rawValue) must be a number from 0 to 1, got \"\(setting.text)\"")
        }
        return value
    }
}
