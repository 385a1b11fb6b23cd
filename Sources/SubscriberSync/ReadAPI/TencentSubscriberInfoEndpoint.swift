import Hummingbird

/// `POST /v4/official_account_open_http_svc/get_subscriber_info`, answered from the mirror with
/// Tencent's own request, answer and error codes, so an app switches by changing a base URL.
/// Every answer is HTTP 200, as Tencent's are. Without `Limit` every subscriber comes in one
/// answer, read and written in chunks (constant memory whatever the account's size).
struct TencentSubscriberInfoEndpoint: Sendable {
    static let path = "/v4/official_account_open_http_svc/get_subscriber_info"
    static let maxBodyBytes = 1 << 20
    /// Subscribers per read while streaming an answer without `Limit`.
    static let streamChunk = 1_000

    let storage: any SubscriberReads
    let counts: SubscriberCounts
    let authenticator: AdminCallAuthenticator
    let clock: any WallClock
    let failures: FailureLog
    /// Pages with `Limit`: a sequential client's next page is read while this one travels.
    let readAhead: PageReadAhead<RenderedPage>

    func respond(to request: Request) async -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            return Self.failure(TencentErrorCode.httpParse, "request body exceeds \(Self.maxBodyBytes) bytes")
        }
        let parameters = request.uri.queryParameters
        let credentials = AdminCallAuthenticator.Credentials(
            sdkappid: parameters["sdkappid"], random: parameters["random"], contenttype: parameters["contenttype"],
            identifier: parameters["identifier"], usersig: parameters["usersig"])
        if let refusal = authenticator.refusal(credentials, nowSeconds: clock.nowMilliseconds() / 1000) {
            return Self.failure(refusal.code, refusal.info)
        }
        let query: SubscriberInfoQuery
        do {
            query = try SubscriberInfoQuery.parse(body)
        } catch {
            return Self.failure(error.refusal.code, error.refusal.info)
        }
        do {
            let (storage, account, limit) = (self.storage, query.account, query.limit ?? Self.streamChunk)
            let read: @Sendable (String?) async throws -> RenderedPage? = { after in
                try await Self.page(storage, account: account, after: after, limit: limit)
            }
            let found = query.limit == nil ? try await read(query.after)
                : try await readAhead.page(.init(account: account, after: query.after, limit: limit), next: { $0.end.hasMore ? $0.end.last : nil },
                                           read: read)
            guard let page = found else {
                return Self.failure(TencentErrorCode.officialAccountNotFound, "Official_Account \(query.account) does not exist")
            }
            let count = try await counts.count(account: query.account)
            failures.succeeded()
            guard query.limit != nil else { return streamed(page.entries, end: page.end, count: count, account: query.account) }
            var body = ByteBuffer()
            body.reserveCapacity(page.entries.count + 160)
            Self.head(next: ReadCursor.next(last: page.end.last, hasMore: page.end.hasMore), count: count, to: &body)
            body.writeBytes(page.entries)
            body.writeStaticString("]}")
            return Response(status: .ok, headers: Self.headers(sequence: page.end.sequence), body: .init(byteBuffer: body))
        } catch {
            failures.failed("the read API cannot read the store", reason: "\(error)")
            return Self.failure(TencentErrorCode.serverInternal, "the mirror cannot be read now; retry")
        }
    }

    /// A page's entries as they go in `SubscriberList`, and how the page ended.
    struct RenderedPage: Sendable {
        var entries: [UInt8]
        var end: MirrorPageEnd
    }

    /// nil when the store does not hold the account, or it is destroyed.
    private static func page(_ storage: any SubscriberReads, account: String, after: String?, limit: Int) async throws -> RenderedPage? {
        var entries: [UInt8] = []
        entries.reserveCapacity(min(limit, streamChunk) * entryBytes)
        guard let end = try await storage.subscriberPage(account: account, after: after, limit: limit, row: { append($0, to: &entries) }) else {
            return nil
        }
        return RenderedPage(entries: entries, end: end)
    }

    /// The first chunk is read before answering, so that an unknown account still gets its
    /// error; a store failure after that can only cut the answer short.
    private func streamed(_ firstEntries: [UInt8], end firstEnd: MirrorPageEnd, count: Int, account: String) -> Response {
        let storage = self.storage
        let failures = self.failures
        return Response(status: .ok, headers: Self.headers(sequence: firstEnd.sequence), body: ResponseBody { writer in
            var buffer = ByteBuffer()
            Self.head(next: "", count: count, to: &buffer)
            var entries = firstEntries
            var end = firstEnd
            while true {
                buffer.writeBytes(entries)
                entries.removeAll(keepingCapacity: true)
                guard end.hasMore, let last = end.last else { break }
                try await writer.write(buffer)
                buffer = ByteBuffer()
                entries.append(UInt8(ascii: ","))
                do {
                    guard let next = try await storage.subscriberPage(account: account, after: last, limit: Self.streamChunk,
                                                                      row: { Self.append($0, to: &entries) }) else { break }
                    end = next
                } catch {
                    failures.failed("the read API cannot read the store", reason: "\(error)")
                    throw error
                }
                if entries.count == 1 { entries.removeAll() }
            }
            buffer.writeStaticString("]}")
            try await writer.write(buffer)
            try await writer.finish(nil)
        })
    }

    /// Bytes an entry takes with every field known and IDs of about 20 bytes.
    private static let entryBytes = 140

    private static func head(next: String, count: Int, to buffer: inout ByteBuffer) {
        var bytes = Array(#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"Next":"#.utf8)
        JSONObjectWriter.appendString(next, to: &bytes)
        bytes.append(contentsOf: #","SubscriberNum":"#.utf8)
        bytes.append(contentsOf: String(count).utf8)
        bytes.append(contentsOf: #","SubscriberList":["#.utf8)
        buffer.writeBytes(bytes)
    }

    /// Tencent's entry, after a comma unless it starts the list (`bytes` is empty or ends in the
    /// comma a chunk starts with); a field the mirror does not know yet is left out, never made up.
    private static func append(_ row: SubscriberColumns, to bytes: inout [UInt8]) {
        if let last = bytes.last, last != UInt8(ascii: ",") { bytes.append(UInt8(ascii: ",")) }
        JSONObjectWriter.appendLiteral(#"{"Subscriber_Account":""#, to: &bytes)
        JSONObjectWriter.appendEscaped(row.subscriber, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        if let subscribeTime = row.subscribeTime {
            JSONObjectWriter.appendLiteral(#","SubscribeTime":"#, to: &bytes)
            JSONObjectWriter.appendInteger(subscribeTime, to: &bytes)
        }
        if let customString = row.customString {
            JSONObjectWriter.appendLiteral(#","CustomString":""#, to: &bytes)
            JSONObjectWriter.appendEscaped(customString, to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        }
        if let msgFlag = row.msgFlag {
            JSONObjectWriter.appendLiteral(#","MsgFlag":""#, to: &bytes)
            JSONObjectWriter.appendEscaped(msgFlag, to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        }
        if let lastSendMsgTime = row.lastSendMsgTime {
            JSONObjectWriter.appendLiteral(#","LastSendMsgTime":"#, to: &bytes)
            JSONObjectWriter.appendInteger(lastSendMsgTime, to: &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
    }

    static func headers(sequence: Int64) -> HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[ReadAPI.sequenceHeader] = ReadAPI.sequenceText(sequence)
        return headers
    }

    static func failure(_ code: Int, _ info: String) -> Response {
        var body = JSONObjectWriter(capacity: 128)
        body.string("ActionStatus", "FAIL")
        body.string("ErrorInfo", info)
        body.int("ErrorCode", Int64(code))
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body.finished())))
    }
}
