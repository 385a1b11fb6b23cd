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

    @OptionGroup var store: DatabaseOptions

    @Option(name: .customLong("official-account"), help: "Only this Official Account.")
    var officialAccount: String?

    func run() async throws {
        let location = try store.location()
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
