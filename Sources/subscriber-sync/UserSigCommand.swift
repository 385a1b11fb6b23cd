import ArgumentParser
import Foundation
import SubscriberSync

struct UserSigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usersig",
        abstract: "Print a UserSig (TLS sig v2) for an identifier; the secret key comes from \(ServiceSettings.secretKeyEnvironment) or --secret-key-file."
    )

    @Option(help: "SDKAppID of the Chat app.")
    var sdkappid: UInt64

    @Option(help: "The account to sign for (an app admin for REST calls).")
    var identifier: String

    @Option(help: "Validity in seconds.")
    var expire: Int64 = 180 * 86_400

    @Option(help: "File holding the app's secret key.")
    var secretKeyFile: String?

    func validate() throws {
        guard expire > 0 else { throw ValidationError("--expire must be positive") }
        guard !identifier.isEmpty else { throw ValidationError("--identifier must not be empty") }
    }

    func run() throws {
        let key: String?
        do {
            key = try ServiceSettings.secret(file: secretKeyFile, environment: ProcessInfo.processInfo.environment[ServiceSettings.secretKeyEnvironment], name: "secret key")
        } catch {
            throw ValidationError("\(error)")
        }
        guard let key else {
            throw ValidationError("no secret key: set \(ServiceSettings.secretKeyEnvironment) or --secret-key-file")
        }
        let now = Int64(Date().timeIntervalSince1970)
        print(try UserSig.make(key: key, sdkAppID: sdkappid, identifier: identifier, expire: expire, now: now))
    }
}
