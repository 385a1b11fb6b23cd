import AsyncHTTPClient
import Foundation
import NIOCore

/// The request that passes a callback on: the target URL with the callback's query appended
/// (`RequestTime` and `Sign` made afresh with the forward token, or dropped without one), the
/// body byte for byte with its `Content-Type`, and the delivery id.
enum ForwardRequest {
    static let deliveryHeader = "Subscriber-Sync-Delivery"

    static func make(target: String, query: String, contentType: String, body: ByteBuffer, delivery: String?,
                     signature: CallbackSignature?, now: Int64) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url(target: target, query: query, signature: signature, nowSeconds: now / 1000))
        request.method = .POST
        if !contentType.isEmpty { request.headers.add(name: "Content-Type", value: contentType) }
        if let delivery { request.headers.add(name: deliveryHeader, value: delivery) }
        request.body = .bytes(body)
        return request
    }

    /// `target`'s own query first, then the received parameters in their order, each kept as
    /// received (still percent-encoded) except `RequestTime` and `Sign`.
    static func url(target: String, query: String, signature: CallbackSignature?, nowSeconds: Int64) -> String {
        var parameters = query.split(separator: "&", omittingEmptySubsequences: true).filter { parameter in
            let key = parameter.prefix { $0 != "=" }
            return key != "RequestTime" && key != "Sign"
        }.map(String.init)
        if let signature {
            let time = String(nowSeconds)
            parameters.append("RequestTime=\(time)")
            parameters.append("Sign=\(signature.sign(requestTime: time))")
        }
        guard !parameters.isEmpty else { return target }
        let separator = target.contains("?") ? (target.hasSuffix("?") || target.hasSuffix("&") ? "" : "&") : "?"
        return target + separator + parameters.joined(separator: "&")
    }
}
