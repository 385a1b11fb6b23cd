import Foundation

/// A fresh directory under the system temp dir, removed when the value is released.
final class TemporaryDirectory: Sendable {
    let path: String

    /// `inMemory`: on /dev/shm where there is one, for tests that commit thousands of times. Every
    /// SQLite sync there is nearly free, so they neither take long nor starve the other tests'
    /// syncs on the real disk; the engine and its settings are the same.
    init(inMemory: Bool = false) throws {
        let base = inMemory && FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
        path = base + "subscriber-sync-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
