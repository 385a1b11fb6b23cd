import Foundation
import Testing
@testable import SubscriberSync

/// `--database`: a SQLite path or a PostgreSQL URL, and where a PostgreSQL password may come from.
@Suite struct DatabaseSettingTests {
    let directory: TemporaryDirectory
    init() throws { directory = try TemporaryDirectory() }

    func load(flags: [ServiceSettings.Key: [String]] = [:], environment: [String: String] = [:], config: String? = nil) async throws -> ServiceSettings {
        var file: String?
        if let config {
            file = directory.file("config.yaml")
            try config.write(toFile: file!, atomically: true, encoding: .utf8)
        }
        return try await ServiceSettings.load(flags: flags.merging([.sdkappid: ["1400000000"]]) { given, _ in given },
                                              configFile: file, environment: environment)
    }

    @Test func aURLIsPostgreSQLWithLibpqDefaults() throws {
        let location = try StorageLocation.parse("postgresql://app@db.internal/subs")
        #expect(location == .postgres(PostgresLocation(user: "app", password: nil, host: "db.internal", port: 5432, database: "subs",
                                                       sslMode: .prefer)))
        let full = try StorageLocation.parse("postgres://a%40b:p%2Fw@[::1]:6543/d?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(full == .postgres(PostgresLocation(user: "a@b", password: "p/w", host: "::1", port: 6543, database: "d",
                                                   sslMode: .verifyFull, sslRootCert: "/etc/ca.pem")))
        #expect(try StorageLocation.parse("/var/lib/s.sqlite") == .sqlite(path: "/var/lib/s.sqlite"))
        // Each part is decoded once: `%25` is a literal percent sign.
        let percent = try StorageLocation.parse("postgres://a%2541:p%2541@db/d%2541")
        #expect(percent == .postgres(PostgresLocation(user: "a%41", password: "p%41", host: "db", port: 5432, database: "d%41",
                                                      sslMode: .prefer)))
    }

    @Test(arguments: [
        ("postgres://db/subs", "no user"),
        ("postgres://app@db", "no database name"),
        ("postgres://app@db/subs?sslmode=allow", "sslmode must be one of"),
        ("postgres://app@db/subs?connect_timeout=3", "not supported"),
    ])
    func badURLsAreRefusedSayingWhy(url: String, why: String) throws {
        let error = #expect(throws: StorageLocation.Invalid.self) { try StorageLocation.parse(url) }
        #expect(error?.description.contains(why) == true, "\(String(describing: error))")
    }

    @Test func theLogFormMasksThePassword() throws {
        let location = try StorageLocation.parse("postgres://app:hunter2@db:5432/subs?sslmode=require")
        #expect("\(location)" == "postgres://app:****@db:5432/subs?sslmode=require")
        #expect(!"\(location)".contains("hunter2"))
    }

    @Test func aPasswordInTheFlagIsRefusedAndNotRepeated() async throws {
        let error = await #expect(throws: ServiceSettings.Invalid.self) { try await load(flags: [.database: ["postgres://app:hunter2@db/subs"]]) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("refused") && text.contains(" ps ") && !text.contains("hunter2"), "\(text)")
    }

    @Test func thePasswordComesFromTheFileThenTheURLThenPGPASSWORD() async throws {
        func password(_ settings: ServiceSettings) -> String? {
            guard case .postgres(let location) = settings.database else { return nil }
            return location.password
        }
        let environmentURL = ["SUBSCRIBER_SYNC_DATABASE": "postgres://app:from-url@db/subs", "PGPASSWORD": "from-env"]
        #expect(password(try await load(environment: environmentURL)) == "from-url", "a URL from the environment may carry it")
        #expect(password(try await load(config: "database: postgres://app:in-file@db/subs\n")) == "in-file", "so may the config file")
        #expect(password(try await load(flags: [.database: ["postgres://app@db/subs"]], environment: ["PGPASSWORD": "from-env"])) == "from-env")
        let file = directory.file("password")
        try "from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(password(try await load(flags: [.database: ["postgres://app@db/subs"], .databasePasswordFile: [file]],
                                        environment: environmentURL)) == "from-file")
        // A SQLite store has no password: a password file is not even read.
        let sqlite = try await load(flags: [.database: ["s.sqlite"], .databasePasswordFile: ["/nonexistent"]])
        #expect(sqlite.database == .sqlite(path: "s.sqlite"))
    }
}
