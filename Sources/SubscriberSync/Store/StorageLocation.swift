import Foundation

/// Where the store lives, as `--database` names it: a SQLite file path, or a PostgreSQL URL
/// (`postgres://` or `postgresql://`).
public enum StorageLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// `value` as given; `password` from `PGPASSWORD` or a password file, used when the URL has
    /// none.
    public static func parse(_ value: String, password: String? = nil) throws -> StorageLocation {
        let lowered = value.lowercased()
        guard lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://") else {
            guard !value.isEmpty else { throw Invalid("database must be a SQLite file path or a postgres:// URL, got an empty value") }
            return .sqlite(path: value)
        }
        var location = try PostgresLocation(url: value)
        if location.password == nil { location.password = password }
        return .postgres(location)
    }

    /// True when `value` is a URL that carries a password: refused in a command-line flag, which
    /// any user of the host can read in `ps`.
    public static func hasPassword(_ value: String) -> Bool {
        guard case .postgres(let location)? = try? parse(value) else { return false }
        return location.password != nil
    }

    /// For logs and errors: a URL's password is masked.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let location): location.description
        }
    }
}

/// A PostgreSQL server and database:
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?sslmode=…&sslrootcert=FILE]`.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    /// libpq's meanings: `disable` never uses TLS; `prefer` uses it when the server offers it,
    /// without verifying; `require` insists on it, verifying the chain only when `sslrootcert`
    /// is given (as libpq does when a root file exists); `verify-full` verifies chain and host name.
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode
    public var sslRootCert: String?
    /// The schema the tables live in (the session's `search_path`); nil: the role's default
    /// (`public`). Several stores can then share one database, as the tests' do.
    public var schema: String?

    public init(user: String, password: String?, host: String, port: Int = 5432, database: String, sslMode: SSLMode = .prefer,
                sslRootCert: String? = nil) {
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.database = database
        self.sslMode = sslMode
        self.sslRootCert = sslRootCert
    }

    init(url value: String) throws {
        let shape = "postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?sslmode=disable|prefer|require|verify-full&sslrootcert=FILE]"
        guard let components = URLComponents(string: value) else {
            throw StorageLocation.Invalid("database URL is not a valid URL; expected \(shape)")
        }
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw StorageLocation.Invalid("database URL has no user; expected \(shape)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw StorageLocation.Invalid("database URL has no host; expected \(shape)")
        }
        let path = components.percentEncodedPath
        let database = (path.hasPrefix("/") ? String(path.dropFirst()) : path).removingPercentEncoding ?? ""
        guard !database.isEmpty, !database.contains("/") else {
            throw StorageLocation.Invalid("database URL has no database name; expected \(shape)")
        }
        self.user = user
        password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        self.host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw StorageLocation.Invalid("database URL port must be 1-65535") }
        self.database = database
        sslMode = .prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw StorageLocation.Invalid("database URL sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(item.value ?? "")\"")
                }
                sslMode = mode
            case "sslrootcert":
                guard let file = item.value, !file.isEmpty else { throw StorageLocation.Invalid("database URL sslrootcert needs a file") }
                sslRootCert = file
            default:
                throw StorageLocation.Invalid("database URL parameter \"\(item.name)\" is not supported (supported: sslmode, sslrootcert)")
            }
        }
    }

    /// The URL with the password masked.
    public var description: String {
        var text = "postgres://\(user)\(password == nil ? "" : ":****")@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
        text += "?sslmode=\(sslMode.rawValue)"
        if let sslRootCert { text += "&sslrootcert=\(sslRootCert)" }
        return text
    }
}
