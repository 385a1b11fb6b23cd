/// How outbox rows of either engine store an event's `source`: `<sdkappid>/<encoded account>`
/// (`EventLine.expandSource` renders the URI). Every event of an account has the same source, and
/// encoding it once per event was measurable, so the encodings are cached.
struct StoredSource: Sendable {
    let sdkAppID: String
    private let sources = BoundedCache<String, String>(capacity: 1024)

    init(sdkAppID: String) {
        self.sdkAppID = sdkAppID
    }

    func callAsFunction(account: String) -> String {
        if let known = sources.lookup(account) { return known }
        let source = "\(PercentEncoding.encode(sdkAppID))/\(PercentEncoding.encode(account))"
        sources.remember(account, source)
        return source
    }
}
