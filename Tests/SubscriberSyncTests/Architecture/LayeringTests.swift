import Foundation
import Testing

/// The architecture as the folder tree shows it: one storage module owns every table and SQL
/// statement, and folders depend on each other one way only.
@Suite("Architecture") struct LayeringTests {
    static let engines = "SubscriberSync/Store/"

    /// Each database library is imported by its engine's folder only; TLS by the two places that
    /// open connections of their own (PostgreSQL, and the pipelined forward connection).
    @Test(arguments: [("GRDB", [engines + "SQLite/"]), ("PostgresNIO", [engines + "PostgreSQL/"]),
                      ("NIOSSL", [engines + "PostgreSQL/", "SubscriberSync/Forward/PipelinedConnection.swift"])])
    func onlyItsOwnersImportALibrary(library: String, owners: [String]) throws {
        let tree = try SourceTree.package()
        try #require(tree.files.count > 50, "the sources were found")
        let importers = tree.files.filter { $0.imports.contains(library) }
        try #require(!importers.isEmpty, "\(library) is imported somewhere, so this check can fail")
        #expect(importers.map(\.path).filter { path in !owners.contains { path.hasPrefix($0) } } == [])
    }

    @Test func noSQLOutsideTheStorageModule() throws {
        let tree = try SourceTree.package()
        let statement = try NSRegularExpression(pattern: #"\b(SELECT .+ FROM|INSERT (OR \w+ )?INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TEMP )?TABLE|DROP TABLE|PRAGMA \w+)\b"#)
        var offenders: [String] = []
        for file in tree.files where !file.path.hasPrefix(Self.engines) {
            let range = NSRange(file.code.startIndex..., in: file.code)
            if let match = statement.firstMatch(in: file.code, range: range), let found = Range(match.range, in: file.code) {
                offenders.append("\(file.path): \(file.code[found])")
            }
        }
        #expect(offenders == [])
    }

    @Test func foldersDependOnEachOtherOneWayOnly() throws {
        let tree = try SourceTree.package()
        // Targets cannot depend on each other both ways (SwiftPM refuses); folders of the library can.
        let edges = tree.folderDependencies().filter { $0.key.hasPrefix("SubscriberSync/") }
        try #require(edges["SubscriberSync/Callbacks"]?.contains("SubscriberSync/Store") == true, "the graph was read")
        let cycles = SourceTree.cycles(in: edges)
        #expect(cycles == [], "\(cycles.map { $0.joined(separator: " → ") }.joined(separator: "\n"))")
    }

    /// The checks above must be able to fail.
    @Test func theChecksFindWhatTheyLookFor() throws {
        #expect(SourceTree.cycles(in: ["A": ["B"], "B": ["C"], "C": ["A"]]).count == 1)
        #expect(SourceTree.cycles(in: ["A": ["B"], "B": ["C"]]).isEmpty)
        #expect(SourceTree.removingComments("import GRDB\nlet a = 1 // SELECT x FROM y\n/// Reads `EventOutbox`\nlet b = 2") == "let a = 1\nlet b = 2\n")
    }
}
