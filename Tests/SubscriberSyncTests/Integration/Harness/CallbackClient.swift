import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore

/// Now, in seconds since 1970: a callback's RequestTime.
func nowSeconds() -> Int64 { Int64(Date().timeIntervalSince1970) }

/// Posts callbacks to one service, signing them the way Tencent does.
struct CallbackClient: Sendable {
    let baseURL: String
    let sdkAppID: String
    let token: String?
    let client: HTTPClient
    var callbackPath = "/tencent/callback"

    /// Tencent's `Sign`: lowercase hex SHA-256 of token + RequestTime (no HMAC, no separator).
    static func sign(token: String, requestTime: String) -> String {
        let digest = SHA256.hash(data: Array((token + requestTime).utf8))
        return digest.map { byte in
            let hex = Array("0123456789abcdef")
            return String([hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
        }.joined()
    }

    /// The query a genuine callback carries: SdkAppid, CallbackCommand, and when a token is
    /// configured Sign and RequestTime (now, unless given).
    func signedQuery(command: String, requestTime: Int64? = nil) -> [(String, String)] {
        var query = [("SdkAppid", sdkAppID), ("CallbackCommand", command), ("contenttype", "json"),
                     ("ClientIP", "127.0.0.1"), ("OptPlatform", "RESTAPI")]
        if let token {
            let time = String(requestTime ?? nowSeconds())
            query += [("Sign", Self.sign(token: token, requestTime: time)), ("RequestTime", time)]
        }
        return query
    }

    static func encode(_ query: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return query.map { key, value in
            "\(key.addingPercentEncoding(withAllowedCharacters: allowed) ?? key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
    }

    /// POSTs `body` with exactly `query`.
    func post(query: [(String, String)], body: HTTPClientRequest.Body, timeout: Duration = .seconds(15)) async throws -> CallbackReply {
        var request = HTTPClientRequest(url: "\(baseURL)\(callbackPath)?\(Self.encode(query))")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = body
        let response = try await client.execute(request, timeout: .init(timeout))
        let collected = try await response.body.collect(upTo: 4 << 20)
        return CallbackReply(status: Int(response.status.code), body: String(buffer: collected),
                             contentType: response.headers.first(name: "Content-Type"))
    }

    func post(query: [(String, String)], body: [UInt8], timeout: Duration = .seconds(15)) async throws -> CallbackReply {
        try await post(query: query, body: .bytes(ByteBuffer(bytes: body)), timeout: timeout)
    }

    /// A correctly signed POST of `body` for `command`.
    func postSigned(command: String, body: [UInt8], timeout: Duration = .seconds(15)) async throws -> CallbackReply {
        try await post(query: signedQuery(command: command), body: body, timeout: timeout)
    }

    func subscribe(account: String = IntegrationDefaults.account, _ subscribers: [String], eventTime: Int64,
                   operatorAccount: String = "administrator", timeout: Duration = .seconds(15)) async throws -> CallbackReply {
        try await postSigned(command: IntegrationDefaults.addCommand,
                             body: CallbackBodies.subscribers(command: IntegrationDefaults.addCommand, account: account,
                                                              operatorAccount: operatorAccount, subscribers: subscribers, eventTime: eventTime),
                             timeout: timeout)
    }

    func unsubscribe(account: String = IntegrationDefaults.account, _ subscribers: [String], eventTime: Int64,
                     operatorAccount: String = "administrator", timeout: Duration = .seconds(15)) async throws -> CallbackReply {
        try await postSigned(command: IntegrationDefaults.deleteCommand,
                             body: CallbackBodies.subscribers(command: IntegrationDefaults.deleteCommand, account: account,
                                                              operatorAccount: operatorAccount, subscribers: subscribers, eventTime: eventTime),
                             timeout: timeout)
    }

    func destroyAccount(_ account: String = IntegrationDefaults.account, eventTime: Int64) async throws -> CallbackReply {
        try await postSigned(command: IntegrationDefaults.destroyedCommand,
                             body: CallbackBodies.accountCallback(IntegrationDefaults.destroyedCommand, account: account, eventTime: eventTime))
    }

    func createAccount(_ account: String = IntegrationDefaults.account, eventTime: Int64) async throws -> CallbackReply {
        try await postSigned(command: IntegrationDefaults.createdCommand,
                             body: CallbackBodies.accountCallback(IntegrationDefaults.createdCommand, account: account, eventTime: eventTime))
    }

    /// GET `path` on the service: (status, body).
    func get(_ path: String, timeout: Duration = .seconds(10)) async throws -> (status: Int, body: String) {
        let request = HTTPClientRequest(url: "\(baseURL)\(path)")
        let response = try await client.execute(request, timeout: .init(timeout))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body))
    }
}
