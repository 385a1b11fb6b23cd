import ArgumentParser
import Foundation
import Logging
import SubscriberSync
#if canImport(Glibc)
import Glibc
#endif

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print the currently subscribed subscribers as JSON lines."
    )

    @Option(help: "SQLite database file or postgres:// URL without a password (env SUBSCRIBER_SYNC_DATABASE).")
    var database: String?

    @Option(help: "File holding the PostgreSQL password (else the URL from the environment, else PGPASSWORD).")
    var databasePasswordFile: String?

    @Option(name: .customLong("official-account"), help: "Only this Official Account.")
    var officialAccount: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        if let database, StorageLocation.hasPassword(database) {
            throw ValidationError(ServiceSettings.passwordInFlag)
        }
        let location: StorageLocation
        do {
            location = try ServiceSettings.storageLocation(
                database ?? environment["SUBSCRIBER_SYNC_DATABASE"] ?? "subscriber-sync.sqlite",
                passwordFile: databasePasswordFile ?? environment["SUBSCRIBER_SYNC_DATABASE_PASSWORD_FILE"], environment: environment)
        } catch {
            throw ValidationError("\(error)")
        }
        // The sdkappid only names event sources, which export does not write.
        let storage = SubscriberSyncApp.makeStorage(location, sdkAppID: "", existingOnly: true, logger: Logger(label: "subscriber-sync.export"))
        do {
            try await storage.open()
        } catch {
            throw ValidationError("\(error)")
        }

        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 16)
        try await storage.exportSubscribers(account: officialAccount) { record in
            buffer.append(contentsOf: record.exportLine())
            if buffer.count >= 1 << 16 {
                try Self.flush(&buffer)
            }
        }
        try Self.flush(&buffer)
        await storage.close()
    }

    private static func flush(_ buffer: inout [UInt8]) throws {
        try FileDescriptorIO.writeAll(fd: STDOUT_FILENO, buffer, what: "stdout")
        buffer.removeAll(keepingCapacity: true)
    }
}
