import ArgumentParser
import Foundation
import Logging
import SubscriberSync
#if canImport(Glibc)
import Glibc
#endif

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Write stored events again, byte for byte as the emitter wrote them (exit 3 when --from is older than the outbox keeps)."
    )

    @OptionGroup var store: DatabaseOptions

    @Option(help: "First sequence to write (default: the oldest still stored).")
    var from: Int64?

    @Option(help: "Last sequence to write (default: the newest when the replay starts).")
    var to: Int64?

    @Option(help: "Where the lines go: stdout, or a file (appended).")
    var events = "stdout"

    func validate() throws {
        if let from, from < 1 { throw ValidationError("--from must be 1 or more") }
        if let to, to < 1 { throw ValidationError("--to must be 1 or more") }
        if let from, let to, to < from { throw ValidationError("--to must not be below --from") }
    }

    func run() async throws {
        let logger = Logging.bootstrap(level: "notice")
        let storage = try await store.openStorage(logger: logger)
        let oldest = try await storage.oldestRetainedSequence()
        if let from, let oldest, from < oldest { throw Self.noLongerStored(from, oldest: oldest) }
        let newest = try await storage.emitterProgress().newest
        let last = min(to ?? newest, newest)
        var next = from ?? oldest ?? 1
        let fd: Int32
        if events == "stdout" || events == "-" {
            fd = STDOUT_FILENO
        } else {
            fd = open(events, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ValidationError("cannot open \(events): \(String(cString: strerror(errno)))") }
        }
        defer { if fd != STDOUT_FILENO { close(fd) } }
        // Without --from, "the oldest still stored" is whatever is oldest when the first batch is
        // read: retention may have moved on since `oldest` was looked up.
        var startsAtOldest = from == nil
        while next <= last {
            let batch = try await storage.events(in: next...last, limit: 1_000)
            guard let end = batch.last?.sequence else { break }
            if startsAtOldest { next = batch[0].sequence }
            startsAtOldest = false
            if batch[0].sequence != next, next == from, let oldest = try await storage.oldestRetainedSequence(), next < oldest {
                // Retention deleted --from after it was checked and before anything was written.
                throw Self.noLongerStored(next, oldest: oldest)
            }
            if batch[0].sequence != next {
                // Retention ran meanwhile (beside a running serve): what is gone cannot be replayed.
                FileHandle.standardError.write(Data("sequence \(next) was deleted by --outbox-retention during the replay; take a snapshot (the read API's native listing, or subscriber-sync export) instead\n".utf8))
                throw ExitCode(3)
            }
            try FileDescriptorIO.writeAll(fd: fd, batch.flatMap(\.line), what: events)
            next = end + 1
        }
        await storage.close()
    }

    /// Exit 3, saying which event is the oldest still stored and to take a snapshot instead.
    private static func noLongerStored(_ sequence: Int64, oldest: Int64) -> ExitCode {
        FileHandle.standardError.write(Data("""
            sequence \(sequence) is no longer stored: the oldest retained event is \(oldest) (older ones were deleted by --outbox-retention). \
            Take a snapshot instead: the read API's native listing (then replay from the "sequence" it answers, plus one), \
            or subscriber-sync export (then replay from \(oldest)).

            """.utf8))
        return ExitCode(3)
    }
}
