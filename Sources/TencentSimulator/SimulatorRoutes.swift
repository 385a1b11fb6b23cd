import Foundation
import Hummingbird
import SubscriberSync

/// The HTTP face: `POST /v4/official_account_open_http_svc/{get_subscriber_info,get_official_account_info}`.
///
/// Checks, in this order (codes in `TencentSimulator.ErrorCode`; every Tencent-level error is an
/// HTTP 200 with `{"ActionStatus":"FAIL","ErrorInfo":…,"ErrorCode":…}`):
///  1. path: an unknown command under `/v4` → 60009; a method other than POST → 60002;
///  2. body over 1 MiB → 60002;
///  3. `sdkappid`: missing → 60012, not a number → 60006, not this app → 70020;
///  4. `random` missing or not a decimal uint32 → 60002; `contenttype` not `json` → 60002;
///  5. `identifier` missing → 60004;
///  6. `usersig`: missing → 70002, undecodable → 70003, then as Tencent's verifier orders it:
///     sdkappid differs from the sig's → 70014, identifier differs → 70013, expired → 70001,
///     HMAC under another key → 70009;
///  7. `identifier` is not the app admin → 60010;
///  8. rate limit (sliding second over accepted calls) → 60007; the call is now "accepted";
///  9. an injected fault, if any is queued;
/// 10. body: not a JSON object → 60003; then the command's parameters → 6017 (see `ErrorCode`).
extension TencentSimulator {
    static let maxBodyBytes = 1 << 20

    /// A router serving both commands (and Tencent-style errors for anything else under `/v4`).
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        addRoutes(to: router)
        return router
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        for api in API.allCases {
            router.post(RouterPath(api.path)) { request, _ in await self.respond(to: request, api: api) }
            for method in [HTTPRequest.Method.get, .put, .delete, .patch] {
                router.on(RouterPath(api.path), method: method) { _, _ in
                    self.refusal(ErrorCode.httpParse, "\(api.rawValue) must be called with POST")
                }
            }
        }
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] {
            router.on("/v4/**", method: method) { request, _ in
                self.refusal(ErrorCode.unknownPath, "no such REST API: \(request.uri.path)")
            }
        }
    }

    // MARK: One call

    func respond(to request: Request, api: API) async -> Response {
        // The call's time is when its head arrived, as a gateway would count it.
        let now = clock.nowMilliseconds()
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            return refusal(ErrorCode.httpParse, "request body exceeds \(Self.maxBodyBytes) bytes")
        }
        if let (code, info) = authenticate(request, nowSeconds: now / 1000) {
            return refusal(code, info)
        }
        switch state.withLock({ $0.admit(api, now: now) }) {
        case .limited:
            logger.debug("call refused: rate limit", metadata: ["api": "\(api.rawValue)"])
            return envelope(ErrorCode.rateLimited, "REST API call frequency over the limit (\(callsPerSecond) per second)")
        case .accepted(let fault?):
            logger.debug("serving fault", metadata: ["api": "\(api.rawValue)", "fault": "\(fault)"])
            switch fault {
            case .httpStatus(let status):
                return Self.gatewayPage(status: status)
            case .garbage:
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: "<html><body>upstream answered garbage\u{0}\u{1}{\"ActionStatus\":")))
            case .errorCode(let code, let info):
                return envelope(code, info)
            case .delay(let duration):
                try? await Task.sleep(for: duration)
                return Self.json(await answer(api, body: body, now: now))
            case .truncated:
                let full = await answer(api, body: body, now: now)
                return Self.json(Array(full.prefix(max(1, full.count / 2))))
            }
        case .accepted(nil):
            return Self.json(await answer(api, body: body, now: now))
        }
    }

    /// Steps 3–7 of the check order (`AdminCallAuthenticator`); nil when the caller is the
    /// authenticated app admin.
    func authenticate(_ request: Request, nowSeconds: Int64) -> (Int, String)? {
        let query = request.uri.queryParameters
        let given = AdminCallAuthenticator.Credentials(sdkappid: query["sdkappid"], random: query["random"], contenttype: query["contenttype"],
                                                       identifier: query["identifier"], usersig: query["usersig"])
        return authenticator.refusal(given, nowSeconds: nowSeconds).map { ($0.code, $0.info) }
    }

    // MARK: Commands

    /// The JSON answer (success or FAIL) of an accepted call.
    private func answer(_ api: API, body: ByteBuffer, now: Int64) async -> [UInt8] {
        let bytes = body.readableBytesView
        switch api {
        case .getSubscriberInfo: return await subscriberInfo(Data(bytes), now: now)
        case .getOfficialAccountInfo: return officialAccountInfo(Data(bytes))
        }
    }

    private func subscriberInfo(_ body: Data, now: Int64) async -> [UInt8] {
        let query: SubscriberInfoBody
        do {
            query = try JSONDecoder().decode(SubscriberInfoBody.self, from: body)
        } catch {
            return failure(ErrorCode.requestJSON, "request body is not a JSON object")
        }
        guard case .value(let account) = query.account, !account.isEmpty else {
            return failure(ErrorCode.invalidParameter, "Official_Account is required and must be a string")
        }
        let limit: Int
        switch query.limit {
        case .missing: limit = GetSubscriberInfoRequest.maxLimit
        case .value(let value) where (1...GetSubscriberInfoRequest.maxLimit).contains(value): limit = value
        default: return failure(ErrorCode.invalidParameter, "Limit must be an integer from 1 to \(GetSubscriberInfoRequest.maxLimit)")
        }
        guard case .value(let next) = query.next else {
            return failure(ErrorCode.invalidParameter, "Next is required and must be a string")
        }
        var cursor: CursorCodec.Cursor?
        if !next.isEmpty {
            guard let decoded = cursors.decode(next), decoded.account == account else {
                return failure(ErrorCode.invalidParameter, "Next is not a cursor issued for this Official_Account")
            }
            cursor = decoded
        }
        let outcome = state.withLock { $0.cutPage(account: account, limit: limit, cursor: cursor, now: now) }
        let cut: PageCut
        switch outcome {
        case .refused(let code, let info): return failure(code, info)
        case .page(let page): cut = page
        }
        if let notify = cut.notify, !cut.churn.isEmpty {
            await notifyChurn(cut.churn, account: account, sender: notify)
        }
        await cut.hook?(account, cut.pageIndex)

        var json = JSONBytes(capacity: 160 + cut.subscribers.count * 160)
        json.raw(#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"Next":"#)
        json.string(cut.next.map(cursors.encode) ?? "")
        json.raw(#","SubscriberNum":"#)
        json.int(Int64(cut.total))
        json.raw(#","SubscriberList":["#)
        for (index, info) in cut.subscribers.enumerated() {
            if index > 0 { json.byte(UInt8(ascii: ",")) }
            json.raw(#"{"Subscriber_Account":"#)
            json.string(info.account)
            json.raw(#","SubscribeTime":"#)
            json.int(info.subscribeTime ?? 0)
            json.raw(#","CustomString":"#)
            json.string(info.customString ?? "")
            json.raw(#","MsgFlag":"#)
            json.string(info.msgFlag ?? "AcceptAndNotify")
            json.raw(#","LastSendMsgTime":"#)
            json.int(info.lastSendMsgTime ?? 0)
            json.byte(UInt8(ascii: "}"))
        }
        json.raw("]}")
        return json.bytes
    }

    private func notifyChurn(_ changes: [ChurnChange], account: String, sender: CallbackSender) async {
        let eventTime = clock.nowMilliseconds()
        let added = changes.filter { $0.kind == .added }.map(\.subscriber)
        let removed = changes.filter { $0.kind == .removed }.map(\.subscriber)
        do {
            if !added.isEmpty { try await sender.subscribersAdded(account: account, subscribers: added, operator: adminIdentifier, eventTime: eventTime) }
            if !removed.isEmpty { try await sender.subscribersDeleted(account: account, subscribers: removed, operator: adminIdentifier, eventTime: eventTime) }
        } catch {
            logger.warning("churn callback failed", metadata: ["error": "\(error)"])
        }
    }

    /// The base-info fields `get_official_account_info` knows, in output order.
    static let baseInfoFields = ["Name", "Owner_Account", "CreateTime", "LastMsgTime", "SubscriberNum",
                                 "Introduction", "FaceUrl", "Organization", "CustomString"]

    /// Accounts one `get_official_account_info` call may ask about.
    static let maxAccountInfoIDs = 50

    private func officialAccountInfo(_ body: Data) -> [UInt8] {
        let query: OfficialAccountInfoBody
        do {
            query = try JSONDecoder().decode(OfficialAccountInfoBody.self, from: body)
        } catch {
            return failure(ErrorCode.requestJSON, "request body is not a JSON object")
        }
        guard case .value(let ids) = query.accounts, (1...Self.maxAccountInfoIDs).contains(ids.count),
              ids.allSatisfy({ !$0.isEmpty }) else {
            return failure(ErrorCode.invalidParameter, "OfficialAccountIdList must hold 1 to \(Self.maxAccountInfoIDs) {\"Official_Account\": string}")
        }
        let fields: Set<String>
        switch query.filter {
        case .missing: fields = Set(Self.baseInfoFields)
        case .value(let names): fields = Set(names)
        case .invalid: return failure(ErrorCode.invalidParameter, "ResponseFilter.OfficialAccountBaseInfoFilter must be an array of strings")
        }
        struct Item { var id: String; var listing: (name: String, owner: String, createTime: Int64, count: Int)? }
        let (items, echo) = state.withLock { state in
            (ids.map { id in Item(id: id, listing: state.accounts[id].map { ($0.name, $0.owner, $0.createTime, $0.count) }) },
             state.echoesOfficialAccount)
        }
        var json = JSONBytes(capacity: 128 + items.count * 256)
        json.raw(#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"OfficialAccountInfoList":["#)
        for (index, item) in items.enumerated() {
            if index > 0 { json.byte(UInt8(ascii: ",")) }
            guard let listing = item.listing else {
                json.raw(#"{"ActionStatus":"FAIL","ErrorCode":"#)
                json.int(Int64(ErrorCode.unknownAccount))
                json.raw(#","ErrorInfo":"#)
                json.string("Official_Account \(item.id) does not exist")
                if echo { json.raw(#","Official_Account":"#); json.string(item.id) }
                json.byte(UInt8(ascii: "}"))
                continue
            }
            json.raw(#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"""#)
            if echo { json.raw(#","Official_Account":"#); json.string(item.id) }
            for field in Self.baseInfoFields where fields.contains(field) {
                json.byte(UInt8(ascii: ","))
                switch field {
                case "Name": json.key("Name"); json.string(listing.name)
                case "Owner_Account": json.key("Owner_Account"); json.string(listing.owner)
                case "CreateTime": json.key("CreateTime"); json.int(listing.createTime)
                case "LastMsgTime": json.key("LastMsgTime"); json.int(0)
                case "SubscriberNum": json.key("SubscriberNum"); json.int(Int64(listing.count))
                case "Introduction": json.key("Introduction"); json.string("")
                case "FaceUrl": json.key("FaceUrl"); json.string("")
                case "Organization": json.key("Organization"); json.string("")
                default: json.key("CustomString"); json.string("")
                }
            }
            json.byte(UInt8(ascii: "}"))
        }
        json.raw("]}")
        return json.bytes
    }

    // MARK: Answers

    /// `{"ActionStatus":"FAIL","ErrorInfo":info,"ErrorCode":code}`, HTTP 200, counted in stats.
    func refusal(_ code: Int, _ info: String) -> Response {
        Self.json(failure(code, info))
    }

    func failure(_ code: Int, _ info: String) -> [UInt8] {
        logger.debug("call refused", metadata: ["code": "\(code)", "info": "\(info)"])
        state.withLock { $0.recordError(code) }
        return Self.envelopeBytes(code, info)
    }

    /// Not counted (the caller already counted it).
    func envelope(_ code: Int, _ info: String) -> Response {
        Self.json(Self.envelopeBytes(code, info))
    }

    static func envelopeBytes(_ code: Int, _ info: String) -> [UInt8] {
        var json = JSONBytes(capacity: 96 + info.utf8.count)
        json.raw(#"{"ActionStatus":"FAIL","ErrorInfo":"#)
        json.string(info)
        json.raw(#","ErrorCode":"#)
        json.int(Int64(code))
        json.byte(UInt8(ascii: "}"))
        return json.bytes
    }

    static func json(_ bytes: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func gatewayPage(status: Int) -> Response {
        let phrases = [400: "Bad Request", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
                       502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"]
        let phrase = phrases[status] ?? "Error"
        let code = HTTPResponse.Status(code: status, reasonPhrase: phrase)
        let title = "\(status) \(phrase)"
        let html = "<html>\r\n<head><title>\(title)</title></head>\r\n<body>\r\n<center><h1>\(title)</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        return Response(status: code, headers: [.contentType: "text/html"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

// MARK: Request bodies

/// `get_subscriber_info` body, read strictly: decoding throws only when the body is not a JSON
/// object; field problems are recorded for the parameter checks.
struct SubscriberInfoBody: Decodable {
    var account: JSONBodyField<String>
    var limit: JSONBodyField<Int>
    var next: JSONBodyField<String>

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: JSONBodyKey.self)
        account = container.field("Official_Account", as: String.self)
        limit = container.field("Limit", as: Int.self)
        next = container.field("Next", as: String.self)
    }
}

/// `get_official_account_info` body.
struct OfficialAccountInfoBody: Decodable {
    struct AccountID: Decodable {
        var id: String
        init(from decoder: any Decoder) throws {
            id = try decoder.container(keyedBy: JSONBodyKey.self).decode(String.self, forKey: JSONBodyKey("Official_Account"))
        }
    }

    struct Filter: Decodable {
        var names: JSONBodyField<[String]>
        init(from decoder: any Decoder) throws {
            names = try decoder.container(keyedBy: JSONBodyKey.self).field("OfficialAccountBaseInfoFilter", as: [String].self)
        }
    }

    var accounts: JSONBodyField<[String]>
    var filter: JSONBodyField<[String]>

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: JSONBodyKey.self)
        switch container.field("OfficialAccountIdList", as: [AccountID].self) {
        case .missing: accounts = .missing
        case .invalid: accounts = .invalid
        case .value(let ids): accounts = .value(ids.map(\.id))
        }
        switch container.field("ResponseFilter", as: Filter.self) {
        case .missing: filter = .missing
        case .invalid: filter = .invalid
        case .value(let filter):
            switch filter.names {
            case .missing: self.filter = .missing
            case .invalid: self.filter = .invalid
            case .value(let names): self.filter = .value(names)
            }
        }
    }
}
