import ArgumentParser
import Foundation
import Logging
import SubscriberSync
#if canImport(Glibc)
import Glibc
#endif

struct ForwardsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forwards",
        abstract: "List the forward queue per target (pending and dead jobs), queue dead jobs again (--retry-dead) or delete them (--drop-dead)."
    )

    @OptionGroup var store: DatabaseOptions

    @Flag(help: "One JSON object per target and line instead of a table.")
    var json = false

    @Flag(help: "Queue the dead-lettered jobs again (of --target only, when given), in their original order.")
    var retryDead = false

    @Flag(help: "Delete the dead-lettered jobs (of --target only, when given): their loss is accepted.")
    var dropDead = false

    @Option(help: "Only this target: its URL as configured or as listed.")
    var target: String?

    func validate() throws {
        if retryDead && dropDead { throw ValidationError("--retry-dead and --drop-dead exclude each other") }
    }

    func run() async throws {
        let logger = Logging.bootstrap(level: "notice")
        let storage = try await store.openStorage(logger: logger)
        var summaries = try await storage.forwardTargets()
        var only: String?
        if let target {
            summaries = summaries.filter { $0.isNamed(target) }
            guard let match = summaries.first else {
                await storage.close()
                // A name as listed is shown as given; a URL without its credentials and query.
                let shown = target.contains("?(query ") ? target : ForwardRule.displayName(target)
                throw AccountsCommand.Refused(description: "the forward queue holds no jobs for \(shown); nothing changed")
            }
            only = match.target
        }
        let suffix = only.map { " for \(ForwardRule.displayName($0))" } ?? ""
        var metadata: Logger.Metadata = only.map { ["target": "\(ForwardRule.displayName($0))"] } ?? [:]
        if retryDead {
            let queued = try await storage.retryDeadForwards(target: only)
            metadata["jobs"] = "\(queued)"
            logger.notice("dead forward jobs queued again by an operator", metadata: metadata)
            print("queued \(queued) dead job\(queued == 1 ? "" : "s") again\(suffix)")
        } else if dropDead {
            let dropped = try await storage.dropDeadForwards(target: only)
            metadata["jobs"] = "\(dropped)"
            logger.notice("dead forward jobs deleted by an operator", metadata: metadata)
            print("deleted \(dropped) dead job\(dropped == 1 ? "" : "s")\(suffix)")
        } else {
            if json {
                try FileDescriptorIO.writeAll(fd: STDOUT_FILENO, summaries.flatMap { $0.jsonLine() }, what: "stdout")
            } else {
                print(AccountsCommand.table([ForwardTargetSummary.columns] + summaries.map(\.cells)), terminator: "")
            }
        }
        await storage.close()
    }
}
