// Calls to a `serve`'s read API (`--read-api-listen`) over loopback: the Tencent-compatible
// get_subscriber_info with a UserSig in the URL, and the native endpoints with a bearer token.

import AsyncHTTPClient
import Foundation
import NIOCore
import SubscriberSync

struct ReadAPIClient: Sendable {
    static let secretKey = "read-api-secret-key-0123456789abcdef"
    static let token = "read-api-token-0123456789"
    static let adminIdentifier = "administrator"

    let baseURL: String
    let client: HTTPClient

    /// Arguments and environment that turn the read API on, on a port of the system's choice.
    static func serveConfiguration(token: String? = Self.token, extra: [String] = []) -> ServeConfiguration {
        var configuration = ServeConfiguration()
        configuration.extraArguments = ["--read-api-listen", "127.0.0.1:0", "--reconcile-interval", "0"] + extra
        configuration.environment[ServiceSettings.secretKeyEnvironment] = secretKey
        if let token { configuration.environment[ServiceSettings.readAPITokenEnvironment] = token }
        return configuration
    }

    /// The read API's port, from the service's "read API served on" line.
    static func port(of service: ServiceProcess) async throws -> Int {
        let marker = "read API served on 127.0.0.1:"
        var port: Int?
        _ = await waitUntil(timeout: .seconds(20)) {
            let text = service.stderrText()
            guard let range = text.range(of: marker) else { return false }
            port = Int(text[range.upperBound...].prefix(while: \.isNumber))
            return port != nil
        }
        guard let port else { throw IntegrationError("\(service.name) did not log its read API port:\n\(service.stderrText())") }
        return port
    }

    struct Reply: Sendable {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]

        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> [String: Any] {
            guard let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
                throw IntegrationError("not a JSON object: \(text)")
            }
            return object
        }
        var sequence: String? { headers.first { $0.0.lowercased() == "subscriber-sync-sequence" }?.1 }
    }

    static func userSig(identifier: String = adminIdentifier, sdkAppID: String = IntegrationDefaults.sdkAppID, key: String = secretKey,
                        expire: Int64 = 86_400, at time: Int64 = nowSeconds()) throws -> String {
        try UserSig.make(key: key, sdkAppID: UInt64(sdkAppID)!, identifier: identifier, expire: expire, now: time)
    }

    /// POST get_subscriber_info with `body`; `query` overrides the URL's parameters (nil removes one).
    func subscriberInfo(_ body: String, usersig: String? = nil, query overrides: [String: String?] = [:]) async throws -> Reply {
        var parameters: [(String, String?)] = [
            ("sdkappid", IntegrationDefaults.sdkAppID), ("identifier", Self.adminIdentifier),
            ("usersig", try usersig ?? Self.userSig()), ("random", "12345"), ("contenttype", "json"),
        ]
        parameters = parameters.map { name, value in (name, overrides.keys.contains(name) ? overrides[name]! : value) }
        let query = CallbackClient.encode(parameters.compactMap { name, value in value.map { (name, $0) } })
        var request = HTTPClientRequest(url: "\(baseURL)/v4/official_account_open_http_svc/get_subscriber_info?\(query)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        return try await send(request)
    }

    /// GET a native path (already percent-encoded) with `token` as the bearer (nil: no header).
    func get(_ path: String, token: String? = Self.token) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return try await send(request)
    }

    private func send(_ request: HTTPClientRequest) async throws -> Reply {
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 512 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: Array(body.readableBytesView))
    }

    /// Every page of `account` through get_subscriber_info with `limit`; the entries and each
    /// page's answer.
    func tencentListing(_ account: String, limit: Int) async throws -> (entries: [[String: Any]], pages: [[String: Any]]) {
        var entries: [[String: Any]] = []
        var pages: [[String: Any]] = []
        var next = ""
        repeat {
            let body = try JSONSerialization.data(withJSONObject: ["Official_Account": account, "Limit": limit, "Next": next])
            let page = try await subscriberInfo(String(decoding: body, as: UTF8.self)).json()
            guard page["ErrorCode"] as? Int == 0, let list = page["SubscriberList"] as? [[String: Any]], let cursor = page["Next"] as? String else {
                throw IntegrationError("page after \"\(next)\" failed: \(page)")
            }
            pages.append(page)
            entries += list
            next = cursor
        } while !next.isEmpty && pages.count < 10_000
        return (entries, pages)
    }

    /// Percent-encodes one path segment (`#` and `/` included).
    static func segment(_ value: String) -> String {
        PercentEncoding.encode(value)
    }
}
