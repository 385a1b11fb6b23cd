import NIOCore

/// AsyncHTTPClient's timeouts are NIO `TimeAmount`s; the tests speak `Duration`.
extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
