// A PostgreSQL server of the test's own (initdb + pg_ctl, as the `postgres` user), for tests that
// stop and restart the server: doing that to the shared test server would break every other test
// running beside them.

import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import SubscriberSync

final class ThrowawayPostgres: Sendable {
    static let binaries = "/usr/lib/postgresql/15/bin"
    let directory: String
    let port: Int

    /// A URL for `--database` (trust authentication on loopback: no password).
    var url: String { "postgres://postgres@127.0.0.1:\(port)/subscriber_sync?sslmode=disable" }

    private init(directory: String, port: Int) {
        self.directory = directory
        self.port = port
    }

    /// Creates, starts and prepares a cluster on a free port. Needs root (CI runs as root) to act
    /// as the `postgres` user, which initdb requires.
    /// `directory`: where the cluster lives (a small filesystem of the test's); else a new one.
    static func start(in given: String? = nil) async throws -> ThrowawayPostgres {
        let directory = given ?? "/tmp/subscriber-sync-pg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let port = try freePort()
        let server = ThrowawayPostgres(directory: directory, port: port)
        try await server.asPostgres("/bin/chown", ["postgres:postgres", directory], asRoot: true)
        try await server.asPostgres("\(binaries)/initdb", ["-D", directory + "/data", "-U", "postgres", "--auth=trust", "--no-sync"])
        try await server.control("start")
        try await server.asPostgres("\(binaries)/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-qAtX",
                                                        "-c", "CREATE DATABASE subscriber_sync"])
        return server
    }

    /// Runs `body` with a new server (see `start`), destroyed afterwards, also on a throw.
    static func with<T>(in directory: String? = nil, _ body: (ThrowawayPostgres) async throws -> T) async throws -> T {
        let server = try await start(in: directory)
        do {
            let result = try await body(server)
            await server.destroy()
            return result
        } catch {
            await server.destroy()
            throw error
        }
    }

    /// `pg_ctl start|stop|restart`, waiting until it is done (a fast stop: sessions are cut).
    func control(_ action: String) async throws {
        var arguments = [action, "-D", directory + "/data", "-w", "-t", "60", "-l", directory + "/server.log"]
        if action != "start" { arguments += ["-m", "fast"] }
        if action != "stop" { arguments += ["-o", "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=on"] }
        try await asPostgres("\(Self.binaries)/pg_ctl", arguments)
    }

    func destroy() async {
        try? await control("stop")
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func asPostgres(_ executable: String, _ arguments: [String], asRoot: Bool = false) async throws {
        let (program, all) = asRoot || getuid() != 0 ? (executable, arguments) : ("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments)
        let result = try await ChildProcess.run(program, all, environment: ProcessInfo.processInfo.environment, timeout: .seconds(90))
        guard result.exit == .exited(0) else {
            throw IntegrationError("\(executable) \(arguments.joined(separator: " ")) failed (\(result.exit)); this test runs its own PostgreSQL server and needs root to run it as the postgres user: \(result.stderr)")
        }
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
private func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw IntegrationError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw IntegrationError("could not find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
