import ArgumentParser
import Foundation
import Logging
import SubscriberSync

/// `--database` and `--database-password-file` of the commands that only read or touch the store
/// (`export`, `accounts`), with the environment behind them as for `serve`.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "SQLite database file or postgres:// URL without a password (env SUBSCRIBER_SYNC_DATABASE).")
    var database: String?

    @Option(help: "File holding the PostgreSQL password (else the URL from the environment, else PGPASSWORD).")
    var databasePasswordFile: String?

    func location(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> StorageLocation {
        if let database, StorageLocation.hasPassword(database) {
            throw ValidationError(ServiceSettings.passwordInFlag)
        }
        do {
            return try ServiceSettings.storageLocation(
                database ?? environment[ServiceSettings.Key.database.environmentVariable] ?? "subscriber-sync.sqlite",
                passwordFile: databasePasswordFile ?? environment[ServiceSettings.Key.databasePasswordFile.environmentVariable], environment: environment)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The store, opened: an existing, up-to-date SQLite file or a PostgreSQL database. These
    /// commands record no event, so no sdkappid is needed to name event sources.
    func openStorage(logger: Logger) async throws -> any SubscriberStorage {
        let storage = SubscriberSyncApp.makeStorage(try location(), sdkAppID: "", existingOnly: true, logger: logger)
        do {
            try await storage.open()
        } catch {
            throw ValidationError("\(error)")
        }
        return storage
    }
}
