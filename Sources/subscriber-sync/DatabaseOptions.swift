import ArgumentParser
import Foundation
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
}
