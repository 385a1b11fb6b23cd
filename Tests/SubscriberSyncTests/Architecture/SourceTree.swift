import Foundation

/// The package's Swift sources, read as text, grouped by folder, with comments removed (a type
/// named in a comment is not a dependency).
struct SourceTree {
    struct File {
        var path: String
        var folder: String
        var code: String
        /// The modules the file imports (`code` has no import lines).
        var imports: [String]
    }

    let root: String
    let files: [File]

    /// `Sources/` of this package, found from this file's own path.
    static func package(filePath: String = #filePath) throws -> SourceTree {
        var url = URL(fileURLWithPath: filePath)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return try SourceTree(root: url.appendingPathComponent("Sources").path)
    }

    init(root: String) throws {
        self.root = root
        var files: [File] = []
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let relative = enumerator?.nextObject() as? String {
            guard relative.hasSuffix(".swift") else { continue }
            let text = try String(contentsOfFile: root + "/" + relative, encoding: .utf8)
            let folder = (relative as NSString).deletingLastPathComponent
            let imports = text.split(separator: "\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                guard let keyword = words.firstIndex(of: "import"), keyword + 1 < words.count,
                      words[..<keyword].allSatisfy({ ["@testable", "public", "internal", "@preconcurrency"].contains($0) }) else { return nil }
                return String(words[keyword + 1])
            }
            files.append(File(path: relative, folder: folder, code: Self.removingComments(text), imports: imports))
        }
        self.files = files.sorted { $0.path < $1.path }
    }

    /// Drops `//` comments and `/* */` blocks; string literals stay (SQL lives in them).
    static func removingComments(_ text: String) -> String {
        var result = ""
        var inBlock = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = Substring(line)
            if inBlock {
                guard let end = line.range(of: "*/") else { continue }
                line = line[end.upperBound...]
                inBlock = false
            }
            if let start = line.range(of: "/*"), !line[..<start.lowerBound].contains("\"") {
                inBlock = !line[start.upperBound...].contains("*/")
                line = line[..<start.lowerBound]
            }
            let trimmed = line.drop { $0 == " " }
            // Module imports are not dependencies between folders either.
            if trimmed.hasPrefix("//") || trimmed.hasPrefix("import ") || trimmed.hasPrefix("@testable import ") { continue }
            if let comment = line.range(of: " // ") { line = line[..<comment.lowerBound] }
            result += line + "\n"
        }
        return result
    }

    /// Top-level type names declared in each folder.
    func declaredTypes() -> [String: Set<String>] {
        let declaration = try! NSRegularExpression(pattern: #"^(?:public |internal |fileprivate |private |final |indirect )*(?:struct|class|enum|protocol|actor|typealias) +([A-Z][A-Za-z0-9_]*)"#,
                                                   options: .anchorsMatchLines)
        var types: [String: Set<String>] = [:]
        for file in files {
            let range = NSRange(file.code.startIndex..., in: file.code)
            for match in declaration.matches(in: file.code, range: range) {
                if let name = Range(match.range(at: 1), in: file.code) {
                    types[file.folder, default: []].insert(String(file.code[name]))
                }
            }
        }
        return types
    }

    /// Folder → the folders whose types its code names.
    func folderDependencies() -> [String: Set<String>] {
        let declared = declaredTypes()
        var owner: [String: String] = [:]
        for (folder, names) in declared {
            for name in names { owner[name] = folder }
        }
        let word = try! NSRegularExpression(pattern: #"\b[A-Z][A-Za-z0-9_]*\b"#)
        var edges: [String: Set<String>] = [:]
        for file in files {
            let range = NSRange(file.code.startIndex..., in: file.code)
            for match in word.matches(in: file.code, range: range) {
                guard let token = Range(match.range, in: file.code), let folder = owner[String(file.code[token])],
                      folder != file.folder else { continue }
                edges[file.folder, default: []].insert(folder)
            }
        }
        return edges
    }

    /// Cycles among folders (each reported once, as a path that ends where it starts).
    static func cycles(in edges: [String: Set<String>]) -> [[String]] {
        func path(from: String, to: String) -> [String]? {
            var queue: [[String]] = [[from]]
            var seen: Set<String> = [from]
            while !queue.isEmpty {
                let path = queue.removeFirst()
                for next in edges[path.last!, default: []].sorted() {
                    if next == to { return path + [next] }
                    if seen.insert(next).inserted { queue.append(path + [next]) }
                }
            }
            return nil
        }
        var found: [[String]] = []
        var reported: Set<Set<String>> = []
        for (from, targets) in edges.sorted(by: { $0.key < $1.key }) {
            for to in targets.sorted() {
                guard let back = path(from: to, to: from) else { continue }
                let cycle = [from] + back
                if reported.insert(Set(cycle)).inserted { found.append(cycle) }
            }
        }
        return found
    }
}
