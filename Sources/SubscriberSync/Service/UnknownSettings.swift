import Foundation
import Yams

/// Keys that name no setting: a typo such as `reconcileIntervall: 5m` would otherwise keep the
/// default without a word. Unknown keys of the config file are refused; unknown `SUBSCRIBER_SYNC_*`
/// variables only warned about, since the environment is shared with whatever else runs there.
/// Only names are reported, never values: a misspelled key may hold a secret.
public enum UnknownSettings {
    public struct InConfigFile: Error, CustomStringConvertible {
        public var file: String
        /// Each unknown key with the closest known one.
        public var keys: [(key: String, suggestion: String)]

        public var description: String {
            let list = keys.map { "\"\($0.key)\" (did you mean \"\($0.suggestion)\"?)" }.joined(separator: ", ")
            return "unknown key\(keys.count == 1 ? "" : "s") in config file \(file): \(list)"
        }
    }

    /// The file's top-level keys that are not settings.
    static func check(configFile path: String, contents: Data) throws {
        let keys = try topLevelKeys(contents, json: path.hasSuffix(".json"))
        let known = ServiceSettings.Key.allCases.map(\.rawValue)
        let unknown = keys.filter { !known.contains($0) }.map { (key: $0, suggestion: closest(to: $0, among: known)) }
        if !unknown.isEmpty { throw InConfigFile(file: path, keys: unknown) }
    }

    /// One warning per `SUBSCRIBER_SYNC_*` variable that is not a setting, sorted by name.
    public static func environmentWarnings(_ environment: [String: String]) -> [String] {
        let known = ServiceSettings.Key.allCases.map(\.environmentVariable) + [ServiceSettings.forwardTokenEnvironment, ServiceSettings.readAPITokenEnvironment]
        return environment.keys.filter { $0.hasPrefix(ServiceSettings.Key.environmentPrefix) && !known.contains($0) }.sorted().map {
            "unknown environment variable \($0) is ignored (did you mean \(closest(to: $0, among: known))?)"
        }
    }

    private static func topLevelKeys(_ contents: Data, json: Bool) throws -> [String] {
        if json {
            guard let object = try JSONSerialization.jsonObject(with: contents) as? [String: Any] else { return [] }
            return object.keys.sorted()
        }
        guard let text = String(data: contents, encoding: .utf8), let node = try Yams.compose(yaml: text), let mapping = node.mapping else {
            return []
        }
        return mapping.keys.compactMap(\.string)
    }

    /// The known name with the fewest edits from `name`, case aside.
    static func closest(to name: String, among known: [String]) -> String {
        let target = Array(name.lowercased())
        return known.map { (distance: editDistance(target, Array($0.lowercased())), name: $0) }.min { $0.distance < $1.distance }?.name ?? ""
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}
