// Reading what the service leaves in an events file: raw lines, parsed events, repeats.

import Foundation

/// The raw content of an events file, split into lines.
struct EventFileContents: Sendable {
    var bytes: [UInt8]
    /// Complete lines (terminated by "\n"), without the newline.
    var lines: [String]
    /// Bytes after the last newline (a partial line), empty when the file ends with "\n".
    var trailing: String

    init(path: String) {
        bytes = (FileManager.default.contents(atPath: path)).map { [UInt8]($0) } ?? []
        var parts = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        trailing = parts.removeLast()
        lines = parts
    }

    var endsWithNewline: Bool { trailing.isEmpty }

    /// Every complete line parsed as an event; throws on the first that is not one.
    func events() throws -> [CloudEvent] { try lines.map(CloudEvent.init(line:)) }

    /// The lines that parse as events (ignores anything else); for polling.
    func parsableEvents() -> [CloudEvent] { lines.compactMap { try? CloudEvent(line: $0) } }
}

enum EventFile {
    static func read(_ path: String) -> EventFileContents { EventFileContents(path: path) }

    /// Events that parse, from `path` (for polling while the service writes).
    static func events(_ path: String) -> [CloudEvent] { read(path).parsableEvents() }

    /// Distinct event ids in `paths`.
    static func distinctIDs(_ paths: [String]) -> Set<String> {
        Set(paths.flatMap { events($0).map(\.id) })
    }

    /// Drops repeated ids (keeping the first), checking that repeats are byte-identical.
    static func deduplicated(_ events: [CloudEvent]) -> (unique: [CloudEvent], repeats: Int, mismatched: [String]) {
        var seen: [String: String] = [:]
        var unique: [CloudEvent] = []
        var repeats = 0
        var mismatched: [String] = []
        for event in events {
            if let line = seen[event.id] {
                repeats += 1
                if line != event.line { mismatched.append(event.id) }
            } else {
                seen[event.id] = event.line
                unique.append(event)
            }
        }
        return (unique, repeats, mismatched)
    }
}
