import ArgumentParser
import Foundation
import GRDB
import SubscriberSync
#if canImport(Glibc)
import Glibc
#endif

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print the currently subscribed subscribers as JSON lines."
    )

    @Option(help: "SQLite database file (env SUBSCRIBER_SYNC_DATABASE).")
    var database: String?

    @Option(name: .customLong("official-account"), help: "Only this Official Account.")
    var officialAccount: String?

    func run() async throws {
        let path = database ?? ProcessInfo.processInfo.environment["SUBSCRIBER_SYNC_DATABASE"] ?? "subscriber-sync.sqlite"
        let database: DatabasePool
        do {
            database = try StoreDatabase.open(path: path, create: false)
        } catch {
            throw ValidationError("\(error)")
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 16)
        try SubscriberExport.write(database: database, account: officialAccount) { line in
            buffer.append(contentsOf: line)
            if buffer.count >= 1 << 16 {
                try Self.flush(&buffer)
            }
        }
        try Self.flush(&buffer)
    }

    private static func flush(_ buffer: inout [UInt8]) throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw ExitCode(1)
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
