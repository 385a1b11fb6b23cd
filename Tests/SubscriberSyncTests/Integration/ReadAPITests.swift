import AsyncHTTPClient
import Foundation
import Logging
import Testing
import SubscriberSync
import TencentSimulator

/// Issue 13's read API on the real executable: the Tencent-compatible endpoint against `export`,
/// its refusals, the native endpoints, and a listing under concurrent changes completed by the
/// events after its sequence.
/// One test at a time: each starts a simulator, a reconcile and a `serve`, and the whole suite runs
/// beside every other one on two cores.
@Suite("Integration: read API", .serialized, .timeLimit(.minutes(5)))
struct IntegrationReadAPITests {
    static let account = "@TOA#_reads"

    /// Subscribers with every listed field, some of them empty or zero, as Tencent lists them.
    static func listed(_ count: Int) -> [SubscriberInfo] {
        (0..<count).map { (index: Int) -> SubscriberInfo in
            let custom: String = index % 3 == 0 ? "" : "custom \(index) \"quoted\""
            let flag: String = index % 2 == 0 ? "AcceptAndNotify" : "AcceptNotNotify"
            return SubscriberInfo(account: String(format: "u%05d", index), subscribeTime: 1_700_000_000 + Int64(index),
                                  customString: custom, msgFlag: flag, lastSendMsgTime: Int64(index % 5))
        }
    }

    /// A store reconciled from the simulator, then a `serve` with the read API on it.
    static func withReadAPI<T>(engine: StorageEngine, subscribers: Int, token: String? = ReadAPIClient.token,
                               _ body: (Sandbox, ServiceProcess, ReadAPIClient) async throws -> T) async throws -> T {
        let harness = try await SimulatorHarness()
        harness.simulator.setSubscribers(account: account, listed(subscribers))
        return try await withSandbox(engine: engine) { sandbox in
            if subscribers > 0 {
                let run = try await ReconcileRun.run(harness, sandbox: sandbox, accounts: [account])
                try #require(run.status == 0, "\(run.stderr)")
            }
            let service = try await sandbox.startService(ReadAPIClient.serveConfiguration(token: token))
            let port = try await ReadAPIClient.port(of: service)
            return try await withHTTPClient { http in
                try await body(sandbox, service, ReadAPIClient(baseURL: "http://127.0.0.1:\(port)", client: http))
            }
        }
    }

    /// Tencent's entry against `export`'s line: the same values, and a field the mirror does not
    /// know is absent (never made up).
    static func mismatch(_ entry: [String: Any], _ record: ExportRecord) -> String? {
        let pairs: [(String, Any?, Any?)] = [
            ("Subscriber_Account", entry["Subscriber_Account"] as? String, record.subscriber),
            ("SubscribeTime", (entry["SubscribeTime"] as? NSNumber)?.int64Value, record.subscribeTime),
            ("CustomString", entry["CustomString"] as? String, record.customString),
            ("MsgFlag", entry["MsgFlag"] as? String, record.msgFlag),
            ("LastSendMsgTime", (entry["LastSendMsgTime"] as? NSNumber)?.int64Value, record.lastSendMsgTime),
        ]
        for (name, given, expected) in pairs where "\(given as Any)" != "\(expected as Any)" {
            return "\(record.subscriber ?? "?") \(name): \(given as Any) != \(expected as Any)"
        }
        let unknown = Set(entry.keys).subtracting(["Subscriber_Account", "SubscribeTime", "CustomString", "MsgFlag", "LastSendMsgTime"])
        return unknown.isEmpty ? nil : "unexpected keys \(unknown)"
    }

    @Test("get_subscriber_info pages, and the answer without Limit, equal export field for field", arguments: StorageEngine.allCases)
    func compatiblePagesEqualExport(engine: StorageEngine) async throws {
        try await Self.withReadAPI(engine: engine, subscribers: 2_100) { sandbox, service, api in
            // Heard of only in a callback: its fields are unknown until the next pass.
            let callback = try await service.callbacks().subscribe(account: Self.account, ["zz-callback-only"], eventTime: nowSeconds() * 1000)
            #expect(callback.isOK)
            let export = try await sandbox.export(account: Self.account).records()
            try #require(export.count == 2_101)

            let (entries, pages) = try await api.tencentListing(Self.account, limit: 200)
            #expect(pages.count == 11)
            #expect(pages.allSatisfy { $0["SubscriberNum"] as? Int == 2_101 && $0["ActionStatus"] as? String == "OK" }, "\(pages.map { $0["SubscriberNum"] ?? "nil" })")
            #expect(pages.dropLast().allSatisfy { ($0["Next"] as? String)?.isEmpty == false } && pages.last?["Next"] as? String == "")
            #expect(entries.count == export.count)
            let mismatches = zip(entries, export).compactMap(Self.mismatch)
            #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
            let callbackOnly = try #require(entries.last)
            #expect(callbackOnly.keys.sorted() == ["Subscriber_Account"], "\(callbackOnly)")

            // Without Limit: every subscriber in one answer (streamed in chunks), the same entries.
            let whole = try await api.subscriberInfo(#"{"Official_Account":"\#(Self.account)","Next":""}"#)
            #expect(whole.status == 200)
            let answer = try whole.json()
            #expect(answer["Next"] as? String == "" && answer["SubscriberNum"] as? Int == 2_101 && answer["ErrorCode"] as? Int == 0)
            let all = try #require(answer["SubscriberList"] as? [[String: Any]])
            #expect(all.count == export.count)
            #expect(zip(all, export).compactMap(Self.mismatch).isEmpty)
            #expect(whole.sequence?.count == 20, "the sequence header: \(whole.headers)")

            // The production REST client pages it as it pages Tencent: only the base URL differs.
            let client = TencentClient(configuration: TencentClientConfiguration(
                baseURL: api.baseURL, sdkAppID: UInt64(IntegrationDefaults.sdkAppID)!, identifier: ReadAPIClient.adminIdentifier,
                secretKey: ReadAPIClient.secretKey), httpClient: api.client, logger: Logger(label: "read-api-test"))
            var next = ""
            var listed: [String] = []
            repeat {
                let page = try await client.getSubscriberInfo(GetSubscriberInfoRequest(officialAccount: Self.account, limit: 150, next: next))
                listed += page.subscribers.map(\.account)
                next = try #require(page.next)
            } while !next.isEmpty
            #expect(listed == export.compactMap(\.subscriber))
        }
    }

    @Test("forged, expired and foreign UserSigs and bad requests get Tencent's error codes, HTTP 200, no data", arguments: StorageEngine.allCases)
    func refusals(engine: StorageEngine) async throws {
        try await Self.withReadAPI(engine: engine, subscribers: 3) { _, service, api in
            let body = #"{"Official_Account":"\#(Self.account)","Limit":2,"Next":""}"#
            let now = nowSeconds()
            let cases: [(String, ReadAPIClient.Reply, Int)] = [
                ("forged (another key)", try await api.subscriberInfo(body, usersig: try ReadAPIClient.userSig(key: "not-the-app-key")), 70009),
                ("expired", try await api.subscriberInfo(body, usersig: try ReadAPIClient.userSig(expire: 60, at: now - 3_600)), 70001),
                ("another app's UserSig", try await api.subscriberInfo(body, usersig: try ReadAPIClient.userSig(sdkAppID: "1400000001")), 70014),
                ("another app in the URL", try await api.subscriberInfo(body, query: ["sdkappid": "1400000001"]), 70020),
                ("identifier differs from the UserSig's", try await api.subscriberInfo(body, query: ["identifier": "someone"]), 70013),
                ("not the app admin", try await api.subscriberInfo(body, usersig: try ReadAPIClient.userSig(identifier: "someone"),
                                                                   query: ["identifier": "someone"]), 60010),
                ("no usersig", try await api.subscriberInfo(body, query: ["usersig": nil]), 70002),
                ("undecodable usersig", try await api.subscriberInfo(body, usersig: "eJyrVkrNK8nMz1OyUlAqSS0u"), 70003),
                ("body not JSON", try await api.subscriberInfo("Official_Account=x"), 20001),
                ("Limit over 200", try await api.subscriberInfo(#"{"Official_Account":"\#(Self.account)","Limit":201,"Next":""}"#), 6017),
                ("Limit a string", try await api.subscriberInfo(#"{"Official_Account":"\#(Self.account)","Limit":"20","Next":""}"#), 6017),
                ("Limit 0", try await api.subscriberInfo(#"{"Official_Account":"\#(Self.account)","Limit":0,"Next":""}"#), 6017),
                ("no Official_Account", try await api.subscriberInfo(#"{"Limit":20,"Next":""}"#), 6017),
                ("a control character in Official_Account", try await api.subscriberInfo(#"{"Official_Account":"@TOA#_x\u0000","Limit":2}"#), 6017),
                ("a Next we did not issue", try await api.subscriberInfo(#"{"Official_Account":"\#(Self.account)","Limit":2,"Next":"%%%"}"#), 6017),
                ("an account the mirror does not hold", try await api.subscriberInfo(#"{"Official_Account":"@TOA#_nobody","Limit":2,"Next":""}"#), 130007),
            ]
            for (label, reply, code) in cases {
                #expect(reply.status == 200, "\(label): HTTP \(reply.status)")
                let answer = try reply.json()
                #expect(answer["ActionStatus"] as? String == "FAIL" && answer["ErrorCode"] as? Int == code, "\(label): \(reply.text)")
                #expect(answer["SubscriberList"] == nil && answer["SubscriberNum"] == nil, "\(label): data in a refusal: \(reply.text)")
            }
            // The same request with a valid UserSig is answered, so the refusals above were the checks'.
            let valid = try await api.subscriberInfo(body).json()
            #expect(valid["ErrorCode"] as? Int == 0 && (valid["SubscriberList"] as? [Any])?.count == 2, "\(valid)")

            // A destroyed account is no longer served.
            #expect(try await service.callbacks().destroyAccount(Self.account, eventTime: nowSeconds() * 1000).isOK)
            let destroyed = try await api.subscriberInfo(body).json()
            #expect(destroyed["ErrorCode"] as? Int == 130007, "\(destroyed)")
            #expect(!service.stderrText().contains(ReadAPIClient.secretKey))
        }
    }

    @Test("native endpoints: export objects with sequence, keyset pages, lookups, 404 and 400 as JSON, 401 without the token", arguments: StorageEngine.allCases)
    func nativeEndpoints(engine: StorageEngine) async throws {
        try await Self.withReadAPI(engine: engine, subscribers: 5) { sandbox, service, api in
            let other = "@TOA#_other/slash"
            #expect(try await service.callbacks().subscribe(account: other, ["u00001", "a/b c"], eventTime: nowSeconds() * 1000).isOK)
            let export = try await sandbox.export().lines
            let newest = try await sandbox.drainedSequence(service)
            let accountPath = "/v1/official-accounts/\(ReadAPIClient.segment(Self.account))/subscribers"

            // Pages of 2: every export line once, in order, and the same sequence everywhere (nothing changed).
            var objects: [NSDictionary] = []
            var after = ""
            var sequences = Set<String>()
            repeat {
                let reply = try await api.get("\(accountPath)?limit=2&after=\(after)")
                #expect(reply.status == 200, "\(reply.text)")
                let page = try reply.json()
                objects += try #require(page["subscribers"] as? [NSDictionary])
                sequences.insert(try #require(page["sequence"] as? String))
                after = try #require(page["next"] as? String)
            } while !after.isEmpty && objects.count < 100
            let expected = try export.compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? NSDictionary }
                .filter { $0["officialAccount"] as? String == Self.account }
            #expect(objects.count == 5 && objects == expected, "\(objects) vs \(expected)")
            // Everything is written out, so everything is numbered: the snapshot names the newest event.
            #expect(newest > 0 && sequences == [String(format: "%020lld", newest)], "\(sequences) vs \(newest)")

            // One subscription; its object is export's line plus the sequence.
            let one = try await api.get("/v1/official-accounts/\(ReadAPIClient.segment(other))/subscribers/\(ReadAPIClient.segment("a/b c"))")
            #expect(one.status == 200, "\(one.text)")
            let object = try one.json()
            #expect(object["subscriber"] as? String == "a/b c" && object["officialAccount"] as? String == other && object["sequence"] is String)
            #expect(Set(object.keys) == Set(ExportRecord.allKeys + ["sequence"]), "\(object.keys)")

            // Every account of one subscriber.
            let accounts = try await api.get("/v1/subscribers/u00001/official-accounts").json()
            let listed = try #require(accounts["officialAccounts"] as? [[String: Any]])
            #expect(listed.compactMap { $0["officialAccount"] as? String } == [Self.account, other].sorted(), "\(accounts)")
            #expect(accounts["sequence"] is String)
            let none = try await api.get("/v1/subscribers/nobody/official-accounts").json()
            #expect((none["officialAccounts"] as? [Any])?.isEmpty == true)

            // Errors: JSON bodies with the right status.
            let errors: [(String, Int)] = [
                ("/v1/official-accounts/\(ReadAPIClient.segment(Self.account))/subscribers/nobody", 404),
                ("/v1/official-accounts/\(ReadAPIClient.segment("@TOA#_nobody"))/subscribers", 404),
                ("/v1/official-accounts/\(ReadAPIClient.segment("@TOA#_nobody"))/subscribers/u00001", 404),
                ("\(accountPath)?limit=0", 400),
                ("\(accountPath)?limit=1001", 400),
                ("\(accountPath)?limit=+5", 400),
                ("\(accountPath)?limit=ten", 400),
                ("\(accountPath)?after=not-ours!", 400),
                ("/v1/official-accounts/%40TOA%23_x%00y/subscribers", 400),
                ("/v1/subscribers/a%0Ab/official-accounts", 400),
                ("/v1/nothing-here", 404),
            ]
            for (path, status) in errors {
                let reply = try await api.get(path)
                #expect(reply.status == status && (try? reply.json())?["error"] is String, "\(path): \(reply.status) \(reply.text)")
            }
            // 401 without the token, with a wrong one, and before any lookup happens.
            for token in [nil, "wrong-token", ReadAPIClient.token + "x"] {
                for path in [accountPath, "/v1/subscribers/u00001/official-accounts", "/v1/nothing-here"] {
                    let reply = try await api.get(path, token: token)
                    #expect(reply.status == 401 && !reply.text.contains("u00001"), "\(path) with \(token ?? "no token"): \(reply.status) \(reply.text)")
                }
            }
            #expect(!service.stderrText().contains(ReadAPIClient.token))
        }
    }

    @Test("without a configured token the native endpoints answer 401 and serve warns; the compatible endpoint still works")
    func noToken() async throws {
        try await Self.withReadAPI(engine: .sqlite, subscribers: 2, token: nil) { _, service, api in
            #expect(service.stderrText().contains("the read API has no token"), "\(service.stderrText())")
            let reply = try await api.get("/v1/official-accounts/\(ReadAPIClient.segment(Self.account))/subscribers", token: "anything")
            #expect(reply.status == 401 && reply.text.contains("no token configured"), "\(reply.text)")
            let compatible = try await api.subscriberInfo(#"{"Official_Account":"\#(Self.account)","Next":""}"#).json()
            #expect((compatible["SubscriberList"] as? [Any])?.count == 2, "\(compatible)")
        }
    }

    /// The snapshot-then-stream contract: a paging taken while callbacks change the account,
    /// plus the events after its first page's sequence, is the final export.
    /// A listing's pages and the sequence its first page reflects: the native endpoint's
    /// `"sequence"`, or the compatible one's `Subscriber-Sync-Sequence` header.
    enum Endpoint: String, CaseIterable, Sendable {
        case native, compatible
    }

    @Test("a listing under concurrent changes plus the events after its sequence equals the final export",
          arguments: StorageEngine.allCases, Endpoint.allCases)
    func listingPlusEventsIsTheFinalState(engine: StorageEngine, endpoint: Endpoint) async throws {
        try await Self.withReadAPI(engine: engine, subscribers: 0) { sandbox, service, api in
            let callbacks = service.callbacks()
            let start = nowSeconds() * 1000
            let initial = (0..<300).map { String(format: "s%04d", $0) }
            for chunk in stride(from: 0, to: initial.count, by: 50) {
                #expect(try await callbacks.subscribe(account: Self.account, Array(initial[chunk..<chunk + 50]), eventTime: start).isOK)
            }
            let accountPath = "/v1/official-accounts/\(ReadAPIClient.segment(Self.account))/subscribers"

            // Changes all over the key range while the paging runs.
            let changes = Task {
                var generator = SeededGenerator(seed: 13)
                for round in 1...60 {
                    let subscriber = String(format: "s%04d", Int.random(in: 0..<400, using: &generator))
                    let time = start + Int64(round)
                    let reply = Bool.random(using: &generator)
                        ? try await callbacks.subscribe(account: Self.account, [subscriber], eventTime: time)
                        : try await callbacks.unsubscribe(account: Self.account, [subscriber], eventTime: time)
                    #expect(reply.isOK)
                }
            }
            var listed = Set<String>()
            var duplicates: [String] = []
            var firstSequence: Int64?
            var after = ""
            repeat {
                let ids: [String]
                switch endpoint {
                case .native:
                    let page = try await api.get("\(accountPath)?limit=7&after=\(after)").json()
                    if firstSequence == nil { firstSequence = Int64(try #require(page["sequence"] as? String)) }
                    ids = try #require(page["subscribers"] as? [[String: Any]]).map { try #require($0["subscriber"] as? String) }
                    after = try #require(page["next"] as? String)
                case .compatible:
                    let request = try JSONSerialization.data(withJSONObject: ["Official_Account": Self.account, "Limit": 7, "Next": after])
                    let reply = try await api.subscriberInfo(String(decoding: request, as: UTF8.self))
                    let page = try reply.json()
                    try #require(page["ErrorCode"] as? Int == 0, "\(page)")
                    if firstSequence == nil { firstSequence = Int64(try #require(reply.sequence)) }
                    ids = try #require(page["SubscriberList"] as? [[String: Any]]).map { try #require($0["Subscriber_Account"] as? String) }
                    after = try #require(page["Next"] as? String)
                }
                for id in ids where !listed.insert(id).inserted { duplicates.append(id) }
            } while !after.isEmpty
            try await changes.value
            #expect(duplicates.isEmpty, "listed twice: \(duplicates)")

            let final = try await sandbox.export(account: Self.account).records().compactMap(\.subscriber)
            let newest = try await sandbox.drainedSequence(service)
            let events = EventFile.events(service.eventsPath).filter { $0.sequence > firstSequence! && $0.sequence <= newest }
            #expect(!events.isEmpty, "the changes were all over before the listing began, so this proves nothing")
            var state = listed
            for event in events.sorted(by: { $0.sequence < $1.sequence }) {
                guard let subject = event.subject else { continue }
                if event.isSubscribed { state.insert(subject) } else if event.isUnsubscribed { state.remove(subject) }
            }
            #expect(state == Set(final), "missing \(Set(final).subtracting(state).sorted()), extra \(state.subtracting(final).sorted())")
        }
    }
}

extension Sandbox {
    /// The newest stored event's sequence (from `replay`), once `service` has written it out:
    /// from then on every change so far is numbered on either engine.
    func drainedSequence(_ service: ServiceProcess) async throws -> Int64 {
        let replay = try await storeCommand("replay", ["--events", "stdout"])
        guard replay.status == 0 else { throw IntegrationError("replay failed: \(replay.stderr)") }
        let last = try replay.stdout.split(separator: "\n").last.map { try CloudEvent(line: String($0)).sequence } ?? 0
        let written = await waitUntil(timeout: .seconds(15)) {
            EventFile.events(service.eventsPath).contains { $0.sequence == last }
        }
        guard written || last == 0 else { throw IntegrationError("\(service.name) did not write event \(last)") }
        return last
    }
}
