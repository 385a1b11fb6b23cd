/// `--read-api-listen` and its bearer token.
public struct ReadAPIOptions: Sendable {
    public var host: String
    public var port: Int
    /// The native endpoints' bearer token. Secret: never logged. nil: they answer 401.
    public var token: String?

    public init(host: String, port: Int, token: String?) {
        self.host = host
        self.port = port
        self.token = token
    }
}
