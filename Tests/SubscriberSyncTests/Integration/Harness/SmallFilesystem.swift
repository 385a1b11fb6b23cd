import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A tmpfs of a few hundred KiB mounted in a sandbox, to fill up on purpose. Mounting needs root
/// (CI runs as root); elsewhere the tests that use it say so and are skipped.
struct SmallFilesystem: Sendable {
    static var canMount: Bool { geteuid() == 0 }

    let directory: String
    var filler: String { directory + "/filler" }

    /// Mounts a tmpfs of `kibibytes` at `directory` (created), runs `body`, and unmounts.
    static func with<T>(kibibytes: Int, at directory: String, _ body: (SmallFilesystem) async throws -> T) async throws -> T {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let mounted = try await ChildProcess.run("mount", ["-t", "tmpfs", "-o", "size=\(kibibytes)k", "tmpfs", directory],
                                                 environment: ProcessInfo.processInfo.environment)
        guard mounted.status == 0 else { throw IntegrationError("mount failed: \(mounted.stderr)") }
        let filesystem = SmallFilesystem(directory: directory)
        do {
            let result = try await body(filesystem)
            try await filesystem.unmount()
            return result
        } catch {
            try? await filesystem.unmount()
            throw error
        }
    }

    /// Lazy, so that a process still holding a file there (killed at cleanup) does not block it.
    func unmount() async throws {
        _ = try await ChildProcess.run("umount", ["-l", directory], environment: ProcessInfo.processInfo.environment)
    }

    /// Fills the filesystem with a filler file, then gives `leaveKibibytes` back.
    func fill(leaveKibibytes: Int = 0) throws {
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw IntegrationError("cannot create \(filler)") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x61, count: 4096)
        var size = 0
        while true {
            let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            size += written
        }
        guard ftruncate(fd, off_t(max(0, size - leaveKibibytes * 1024))) == 0 else { throw IntegrationError("cannot shrink \(filler)") }
    }

    /// Gives the space back.
    func free() throws {
        try FileManager.default.removeItem(atPath: filler)
    }
}
