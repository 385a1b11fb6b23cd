import Hummingbird

/// The native endpoints, behind `Authorization: Bearer <token>`. Each subscriber is one line of
/// `export` as a JSON object, and every answer carries `sequence` (as events write it): read a
/// snapshot, then apply the events after it. A listing in pages reflects at least its first
/// page's sequence (a later page's read, read ahead or not, comes after the page before it).
struct NativeReadEndpoints: Sendable {
    static let defaultLimit = 200
    static let maxLimit = 1_000

    let storage: any SubscriberReads
    let token: BearerToken
    let failures: FailureLog
    /// A paging's next page is read while this one travels.
    let readAhead: PageReadAhead<MirrorPage>

    func add(to router: Router<BasicRequestContext>) {
        router.get("/v1/official-accounts/:account/subscribers") { request, context in
            await guarded(request) { try await subscribers(of: decoded(context, "account"), request: request) }
        }
        router.get("/v1/official-accounts/:account/subscribers/:subscriber") { request, context in
            await guarded(request) { try await subscription(account: decoded(context, "account"), subscriber: decoded(context, "subscriber")) }
        }
        router.get("/v1/subscribers/:subscriber/official-accounts") { request, context in
            await guarded(request) { try await accounts(of: decoded(context, "subscriber")) }
        }
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] {
            router.on("/v1/**", method: method) { request, _ in
                await guarded(request) { Self.error(.notFound, "no such endpoint: \(request.method) \(request.uri.path)") }
            }
        }
    }

    /// 401 before anything else; a store failure is a 503 (the caller may retry or ask another replica).
    private func guarded(_ request: Request, _ body: () async throws -> Response) async -> Response {
        guard token.admits(request.headers) else {
            var response = Self.error(.unauthorized, token.isConfigured ? "a valid Authorization: Bearer token is required"
                                                                        : "the read API has no token configured (SUBSCRIBER_SYNC_READ_API_TOKEN or --read-api-token-file)")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        do {
            let response = try await body()
            failures.succeeded()
            return response
        } catch let refusal as Refusal {
            return Self.error(refusal.status, refusal.message)
        } catch is CancellationError {
            // The request was given up (its client left, or the server drains): not the store's failure.
            return Self.error(.serviceUnavailable, "the request was cancelled")
        } catch {
            failures.failed("the read API cannot read the store", reason: "\(error)")
            return Self.error(.serviceUnavailable, "the store cannot be read now; retry")
        }
    }

    private func subscribers(of account: String, request: Request) async throws -> Response {
        let parameters = request.uri.queryParameters
        var limit = Self.defaultLimit
        if let given = parameters["limit"] {
            // Digits only: `Int` would also take a sign ("+5").
            guard given.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), let value = Int(given),
                  (1...Self.maxLimit).contains(value) else {
                throw Refusal(.badRequest, "limit must be an integer from 1 to \(Self.maxLimit)")
            }
            limit = value
        }
        var after: String?
        if let given = parameters["after"], !given.isEmpty {
            guard let subscriber = ReadCursor.decode(String(given)) else { throw Refusal(.badRequest, "after is not a cursor this service issued") }
            after = subscriber
        }
        let (storage, pageLimit) = (self.storage, limit)
        let found = try await readAhead.page(.init(account: account, after: after, limit: limit),
                                             next: { $0.hasMore ? $0.records.last?.subscriber : nil }) { after in
            try await storage.subscriberPage(account: account, after: after, limit: pageLimit)
        }
        guard let page = found else { throw Refusal(.notFound, "the mirror does not hold official account \(account)") }
        var bytes = Self.sequenceField(page.sequence)
        bytes.append(contentsOf: #","subscribers":["#.utf8)
        for (index, record) in page.records.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: record.exportLine().dropLast())
        }
        bytes.append(contentsOf: #"],"next":"#.utf8)
        JSONObjectWriter.appendString(ReadCursor.next(last: page.records.last?.subscriber, hasMore: page.hasMore), to: &bytes)
        bytes.append(UInt8(ascii: "}"))
        return Self.json(.ok, bytes, sequence: page.sequence)
    }

    private func subscription(account: String, subscriber: String) async throws -> Response {
        let lookup = try await storage.subscription(account: account, subscriber: subscriber)
        guard lookup.accountHeld else { throw Refusal(.notFound, "the mirror does not hold official account \(account)") }
        guard let record = lookup.record else { throw Refusal(.notFound, "\(subscriber) is not subscribed to \(account)") }
        var bytes = record.exportLine().dropLast(2)
        bytes.append(UInt8(ascii: ","))
        bytes.append(contentsOf: Self.sequenceField(lookup.sequence).dropFirst())
        bytes.append(UInt8(ascii: "}"))
        return Self.json(.ok, Array(bytes), sequence: lookup.sequence)
    }

    private func accounts(of subscriber: String) async throws -> Response {
        let list = try await storage.subscriptions(of: subscriber)
        var bytes = Self.sequenceField(list.sequence)
        bytes.append(contentsOf: #","officialAccounts":["#.utf8)
        for (index, record) in list.records.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: record.exportLine().dropLast())
        }
        bytes.append(contentsOf: "]}".utf8)
        return Self.json(.ok, bytes, sequence: list.sequence)
    }

    /// `{"sequence":"…"` (the object left open).
    private static func sequenceField(_ sequence: Int64) -> [UInt8] {
        var bytes = Array(#"{"sequence":""#.utf8)
        bytes.append(contentsOf: ReadAPI.sequenceText(sequence).utf8)
        bytes.append(UInt8(ascii: "\""))
        return bytes
    }

    /// A path segment as the caller meant it: account IDs hold `#`, which must come percent-encoded.
    private func decoded(_ context: BasicRequestContext, _ name: String) throws -> String {
        guard let raw = context.parameters[name[...]], let value = PercentEncoding.decode(raw) else {
            throw Refusal(.badRequest, "\(name) in the path is not valid percent-encoding")
        }
        guard TencentIdentifier.isValid(value) else {
            throw Refusal(.badRequest, "\(name) must be 1 to \(TencentIdentifier.maxBytes) bytes without control characters")
        }
        return value
    }

    private struct Refusal: Error {
        var status: HTTPResponse.Status
        var message: String
        init(_ status: HTTPResponse.Status, _ message: String) {
            self.status = status
            self.message = message
        }
    }

    private static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var body = JSONObjectWriter(capacity: 128)
        body.string("error", message)
        return json(status, body.finished(), sequence: nil)
    }

    private static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8], sequence: Int64?) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let sequence { headers[ReadAPI.sequenceHeader] = ReadAPI.sequenceText(sequence) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension MirrorPage {
    /// About what the page holds in memory (its strings and a record's fixed part), to bound
    /// the pages read ahead.
    var estimatedBytes: Int {
        records.reduce(0) { total, record in
            total + 128 + record.account.utf8.count + record.subscriber.utf8.count + record.origin.utf8.count
                + (record.fields.msgFlag?.utf8.count ?? 0) + (record.fields.customString?.utf8.count ?? 0)
        }
    }
}
