import ArgumentParser
import Foundation
import Logging
import SubscriberSync
#if canImport(Glibc)
import Glibc
#endif

struct AccountsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts",
        abstract: "List every Official Account the store knows, or make a destroyed one live again (--revive)."
    )

    @OptionGroup var store: DatabaseOptions

    @Flag(help: "One JSON object per account and line instead of a table.")
    var json = false

    @Option(help: "Make this destroyed account live again, so that reconcile passes cover it, without waiting for Tencent's create callback.")
    var revive: String?

    /// A refusal that changes nothing: exit 1 with the reason.
    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    func run() async throws {
        let logger = Logging.bootstrap(level: "notice")
        let storage = try await store.openStorage(logger: logger)
        if let revive {
            try await Self.revive(revive, in: storage, logger: logger)
        } else {
            let summaries = try await storage.accountSummaries()
            if json {
                try FileDescriptorIO.writeAll(fd: STDOUT_FILENO, summaries.flatMap { $0.jsonLine() }, what: "stdout")
            } else {
                print(Self.table([AccountSummary.columns] + summaries.map(\.cells)), terminator: "")
            }
        }
        await storage.close()
    }

    static func revive(_ account: String, in storage: any SubscriberStorage, logger: Logger) async throws {
        guard let record = try await storage.accounts().first(where: { $0.account == account }) else {
            throw Refused(description: "the store knows no account \(account); nothing changed")
        }
        guard let destroyedAt = record.destroyedAt, !record.isLive else {
            print("\(account) is live already; nothing changed")
            return
        }
        // Later than the destruction even when Tencent's clock ran ahead of this host's.
        let createdAt = max(SystemWallClock().nowMilliseconds(), destroyedAt + 1)
        let result = try await storage.apply(.accountCreated(account: account, at: createdAt))
        guard result.revived else {
            throw Refused(description: "\(account) did not become live (changed meanwhile?); run accounts again to see its state")
        }
        let destroyed = Timestamps.rfc3339(milliseconds: destroyedAt)
        let created = Timestamps.rfc3339(milliseconds: createdAt)
        logger.notice("official account revived by an operator: reconciling it again",
                      metadata: ["account": "\(account)", "destroyed_at": "\(destroyed)", "created_at": "\(created)"])
        print("\(account): destroyed (at \(destroyed)) -> live (created at \(created)); the next reconcile pass covers it")
    }

    /// Left-aligned columns two spaces apart.
    static func table(_ rows: [[String]]) -> String {
        var widths: [Int] = []
        for row in rows {
            for (index, cell) in row.enumerated() {
                if index == widths.count { widths.append(0) }
                widths[index] = max(widths[index], cell.count)
            }
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0)
            }.joined()
        }.joined(separator: "\n") + "\n"
    }
}
