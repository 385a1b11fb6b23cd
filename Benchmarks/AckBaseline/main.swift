// The "bare Hummingbird" side of the durable-ingest benchmark (scripts/bench/ingest.sh).
//
// It does the same per-request work as `subscriber-sync serve` minus verification and storage:
// collect the body (up to 1 MiB), decode it with JSONDecoder into the callback's fields, and answer
// Tencent's ack. Its request rate is the ceiling the durable server is compared against.
//
//     ack-baseline [--listen HOST:PORT]     (default 127.0.0.1:8081)
//
// It is also the fast local target of the relay benchmark (scripts/bench/forward.sh): `GET /stats`
// answers how many callbacks it has acknowledged so far.
import Foundation
import Hummingbird
import Synchronization

/// The fields of `OfficialAccount.CallbackAfterAddSubscriber` / `…AfterDeleteSubscriber`.
struct SubscriberCallbackBody: Decodable {
    var callbackCommand: String
    var officialAccount: String
    var operatorAccount: String?
    var subscribeAccountList: [Entry]
    var eventTime: Int64

    struct Entry: Decodable {
        var subscriberAccount: String
        enum CodingKeys: String, CodingKey { case subscriberAccount = "Subscriber_Account" }
    }

    enum CodingKeys: String, CodingKey {
        case callbackCommand = "CallbackCommand"
        case officialAccount = "Official_Account"
        case operatorAccount = "Operator_Account"
        case subscribeAccountList = "SubscribeAccountList"
        case eventTime = "EventTime"
    }
}

let maxBodyBytes = 1 << 20
let ack = ByteBuffer(string: #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#)
let refusal = ByteBuffer(string: #"{"ActionStatus":"FAIL","ErrorInfo":"malformed body","ErrorCode":400}"#)

func listenAddress() -> (host: String, port: Int) {
    var listen = "127.0.0.1:8081"
    let arguments = CommandLine.arguments
    if let flag = arguments.firstIndex(of: "--listen") {
        guard flag + 1 < arguments.count else {
            FileHandle.standardError.write(Data("usage: ack-baseline [--listen HOST:PORT]\n".utf8))
            exit(64)
        }
        listen = arguments[flag + 1]
    }
    guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
        FileHandle.standardError.write(Data("ack-baseline: --listen must be HOST:PORT, got \(listen)\n".utf8))
        exit(64)
    }
    return (String(listen[..<colon]), port)
}

let (host, port) = listenAddress()
let acknowledged = Atomic<Int>(0)
let router = Router()
router.get("/stats") { _, _ -> String in
    "\(acknowledged.load(ordering: .relaxed))\n"
}
router.post("/tencent/callback") { request, _ -> Response in
    let body = try await request.body.collect(upTo: maxBodyBytes)
    let data = body.withUnsafeReadableBytes { Data($0) }
    guard (try? JSONDecoder().decode(SubscriberCallbackBody.self, from: data)) != nil else {
        return Response(status: .badRequest, headers: [.contentType: "application/json"], body: .init(byteBuffer: refusal))
    }
    acknowledged.add(1, ordering: .relaxed)
    return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ack))
}
let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "ack-baseline"))
do {
    try await app.runService()
} catch {
    // A taken port, say: say so and exit 1 rather than trap.
    FileHandle.standardError.write(Data("ack-baseline: cannot serve on \(host):\(port): \(error)\n".utf8))
    exit(1)
}
