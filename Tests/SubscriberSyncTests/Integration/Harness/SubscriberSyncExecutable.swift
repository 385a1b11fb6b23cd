import Foundation

/// The `subscriber-sync` executable under test, and the environment its child processes get.
enum SubscriberSyncExecutable {
    /// `SUBSCRIBER_SYNC_BIN`, else `subscriber-sync` beside the running test binary.
    static func path() throws -> String {
        if let path = ProcessInfo.processInfo.environment["SUBSCRIBER_SYNC_BIN"], !path.isEmpty {
            return path
        }
        let testBinary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let candidate = URL(fileURLWithPath: testBinary).deletingLastPathComponent().appendingPathComponent("subscriber-sync").path
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw IntegrationError("no subscriber-sync executable at \(candidate); build it (swift build --build-tests) or set SUBSCRIBER_SYNC_BIN")
        }
        return candidate
    }

    /// The environment for child processes: ours without any setting the service would pick up.
    static func environment(adding extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in
            !key.hasPrefix("SUBSCRIBER_SYNC_") && !key.hasPrefix("TENCENT_")
        }
        for (key, value) in extra { environment[key] = value }
        return environment
    }

    /// Runs `subscriber-sync <arguments>` to its end.
    static func run(_ arguments: [String], environment: [String: String] = environment(),
                    workingDirectory: URL? = nil, logDirectory: URL? = nil, name: String? = nil,
                    timeout: Duration = .seconds(60)) async throws -> ChildProcess.Result {
        try await ChildProcess.run(try path(), arguments, environment: environment, workingDirectory: workingDirectory,
                                   logDirectory: logDirectory, name: name ?? arguments.first.map { "subscriber-sync-\($0)" },
                                   timeout: timeout)
    }
}
