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
            query = try SubscriberInfoQuery.parse(Array(body.readableBytesView))
        } catch {
            return Self.failure(error.refusal.code, error.refusal.info)
        }
        do {
            guard let first = try await storage.subscriberPage(account: query.account, after: query.after, limit: query.limit ?? Self.streamChunk) else {
                return Self.failure(TencentErrorCode.officialAccountNotFound, "Official_Account \(query.account) does not exist")
            }
            let count = try await counts.count(account: query.account)
            failures.succeeded()
            if query.limit != nil {
                return page(first, count: count)
            }
            return streamed(first, count: count, account: query.account)
        } catch {
            failures.failed("the read API cannot read the store", reason: "\(error)")
            return Self.failure(TencentErrorCode.serverInternal, "the mirror cannot be read now; retry")
        }
    }

    private func page(_ page: MirrorPage, count: Int) -> Response {
        var bytes = Self.head(next: ReadCursor.next(after: page), count: count)
        bytes.reserveCapacity(bytes.count + page.records.count * 140 + 2)
        Self.append(page.records, first: true, to: &bytes)
        bytes.append(contentsOf: "]}".utf8)
        return Response(status: .ok, headers: Self.headers(sequence: page.sequence), body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The first chunk is read before answering, so that an unknown account still gets its
    /// error; a store failure after that can only cut the answer short.
    private func streamed(_ first: MirrorPage, count: Int, account: String) -> Response {
        let storage = self.storage
        let failures = self.failures
        return Response(status: .ok, headers: Self.headers(sequence: first.sequence), body: ResponseBody { writer in
            var bytes = Self.head(next: "", count: count)
            var chunk = first
            var isFirst = true
            while true {
                Self.append(chunk.records, first: isFirst, to: &bytes)
                isFirst = isFirst && chunk.records.isEmpty
                guard chunk.hasMore, let last = chunk.records.last?.subscriber else { break }
                try await writer.write(ByteBuffer(bytes: bytes))
                bytes.removeAll(keepingCapacity: true)
                do {
                    guard let next = try await storage.subscriberPage(account: account, after: last, limit: Self.streamChunk) else { break }
                    chunk = next
                } catch {
                    failures.failed("the read API cannot read the store", reason: "\(error)")
                    throw error
                }
            }
            bytes.append(contentsOf: "]}".utf8)
            try await writer.write(ByteBuffer(bytes: bytes))
            try await writer.finish(nil)
        })
    }

    private static func head(next: String, count: Int) -> [UInt8] {
        var bytes = Array(#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"Next":"#.utf8)
        JSONObjectWriter.appendString(next, to: &bytes)
        bytes.append(contentsOf: #","SubscriberNum":"#.utf8)
        bytes.append(contentsOf: String(count).utf8)
        bytes.append(contentsOf: #","SubscriberList":["#.utf8)
        return bytes
    }

    /// Tencent's entry; a field the mirror does not know yet is left out, never made up.
    private static func append(_ records: [SubscriberRecord], first: Bool, to bytes: inout [UInt8]) {
        for (index, record) in records.enumerated() {
            if index > 0 || !first { bytes.append(UInt8(ascii: ",")) }
            var entry = JSONObjectWriter(capacity: 160)
            entry.string("Subscriber_Account", record.subscriber)
            if let subscribeTime = record.fields.subscribeTime { entry.int("SubscribeTime", subscribeTime) }
            if let customString = record.fields.customString { entry.string("CustomString", customString) }
            if let msgFlag = record.fields.msgFlag { entry.string("MsgFlag", msgFlag) }
            if let lastSendMsgTime = record.fields.lastSendMsgTime { entry.int("LastSendMsgTime", lastSendMsgTime) }
            bytes.append(contentsOf: entry.finished())
        }
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
