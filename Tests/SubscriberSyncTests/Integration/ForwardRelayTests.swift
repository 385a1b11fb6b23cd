import AsyncHTTPClient
import Foundation
import Testing
import SubscriberSync

/// Issue 12 on the real executable: a real target server on loopback behind `--forward`.
@Suite("Integration: callback relay", .timeLimit(.minutes(5)))
struct IntegrationForwardRelayTests {
    static let forwardToken = "forward-token-abcdef"
    static let sendCommand = "C2C.CallbackAfterSendMsg"

    static func start(_ sandbox: Sandbox, forward rules: [String], extra: [String] = [], forwardToken: String? = forwardToken,
                      name: String = "serve") async throws -> ServiceProcess {
        var configuration = ServeConfiguration(extraArguments: rules.flatMap { ["--forward", $0] } + extra)
        if let forwardToken { configuration.environment["SUBSCRIBER_SYNC_FORWARD_TOKEN"] = forwardToken }
        return try await sandbox.startService(configuration, name: name)
    }

    /// A message callback whose body says which it is.
    static func message(_ number: Int) -> [UInt8] {
        Array(#"{"CallbackCommand":"C2C.CallbackAfterSendMsg","From_Account":"a","To_Account":"b","MsgSeq":\#(number)}"#.utf8)
    }

    static func forwards(_ sandbox: Sandbox, _ arguments: [String] = []) async throws -> ReconcileRun {
        try await sandbox.storeCommand("forwards", arguments)
    }

    @Test("a forwarded callback: the body byte for byte, the query as received, re-signed, with a delivery id",
          arguments: StorageEngine.allCases)
    func forwardedRequestIsTheCallbackResigned(engine: StorageEngine) async throws {
        let target = try await FakeForwardTarget()
        try await withSandbox(engine: engine) { sandbox in
            let service = try await Self.start(sandbox, forward: ["C2C.*,OfficialAccount.*=\(target.baseURL)/im?tenant=a"])
            let client = service.callbacks()
            // Not JSON, with bytes that are not UTF-8: a command not interpreted here is not parsed.
            let opaque: [UInt8] = Array("{\"raw\":".utf8) + [0x00, 0xFF, 0xFE, 0x7D]
            let unicode = Array(#"{"CallbackCommand":"C2C.CallbackAfterSendMsg","MsgBody":[{"Text":"你好 \u00e9"}]}"#.utf8)
            let query = client.signedQuery(command: Self.sendCommand)
            #expect(try await client.post(query: query, body: opaque).status == 200)
            #expect(try await client.post(query: query, body: unicode).status == 200)
            #expect(try await client.subscribe(["alice"], eventTime: IntegrationDefaults.baseEventTime).status == 200)
            try #require(await waitUntil(timeout: .seconds(60)) { target.accepted.count >= 3 }, "\(service.stderrText())")

            let received = target.accepted
            #expect(received.map(\.body) == [opaque, unicode, received[2].body])
            #expect(received.map(\.command) == [Self.sendCommand, Self.sendCommand, IntegrationDefaults.addCommand])
            #expect(Set(received.compactMap(\.delivery)).count == 3, "one delivery id per callback and target")
            for request in received {
                #expect(request.path == "/im")
                #expect(request.query.hasPrefix("tenant=a&"), "the target's own query first: \(request.query)")
                #expect(request.headers["content-type"] == "application/json")
                for (name, value) in query where name != "Sign" && name != "RequestTime" && name != "CallbackCommand" {
                    #expect(request.parameter(name) == value, "\(name) passed on as received")
                }
                let signs = request.parameters.filter { $0.0 == "Sign" }
                let time = try #require(request.parameter("RequestTime").flatMap(Int64.init))
                #expect(abs(time - nowSeconds()) < 60)
                #expect(signs.map(\.1) == [CallbackClient.sign(token: Self.forwardToken, requestTime: String(time))],
                        "one Sign, made with the forward token")
            }
            // The subscribe was also applied.
            #expect(try await sandbox.export().records().map(\.subscriber) == ["alice"])
        }
    }

    @Test("before-callbacks: the target's answer passed through, the fallback on failure and on timeout")
    func beforeCallbackAnswers() async throws {
        let target = try await FakeForwardTarget()
        try await withSandbox { sandbox in
            // A timeout that a loaded test machine keeps for an answering target.
            let allow = try await Self.start(sandbox, forward: ["*.CallbackBefore*=\(target.baseURL)/hook"],
                                             extra: ["--forward-timeout", "6s"])
            let client = allow.callbacks()
            let body = Array(#"{"CallbackCommand":"C2C.CallbackBeforeSendMsg","MsgBody":[]}"#.utf8)
            let rewritten = #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"***"}}]}"#
            target.behave { $0.status = 201; $0.body = rewritten }
            let answered = try await client.postSigned(command: "C2C.CallbackBeforeSendMsg", body: body)
            #expect(answered.status == 201)
            #expect(answered.body == rewritten)
            #expect(target.requests.last?.body == body)
            #expect(target.requests.last?.delivery != nil)

            target.behave { $0.status = 500; $0.body = "boom" }
            let failed = try await client.postSigned(command: "C2C.CallbackBeforeSendMsg", body: body)
            #expect(failed.status == 200)
            #expect(failed.body == #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#)

            target.behave { $0.status = 200; $0.body = rewritten; $0.delay = .seconds(20) }
            let started = ContinuousClock.now
            let slow = try await client.postSigned(command: "Group.CallbackBeforeSendMsg", body: body, timeout: .seconds(25))
            let waited = ContinuousClock.now - started
            #expect(waited >= .seconds(6) && waited < .seconds(15), "answered at --forward-timeout (6 s), not when the target answers: \(waited)")
            #expect(slow.body == #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#)
            let outcomes = try await client.get("/metrics").body
            for outcome in ["answered", "fallback_failure", "fallback_timeout"] {
                #expect(outcomes.contains(#"subscriber_sync_forward_before_total{target="\#(target.baseURL)/hook",outcome="\#(outcome)"} 1"#),
                        "\(outcome): \(outcomes)")
            }

            let deny = try await Self.start(sandbox, forward: ["C2C.CallbackBefore*=\(target.baseURL)/hook"],
                                            extra: ["--forward-before-fallback", "deny", "--forward-timeout", "10s",
                                                    "--database", sandbox.path("deny.sqlite")], name: "deny")
            target.behave { $0.status = 503; $0.delay = .zero }
            let denied = try await deny.callbacks().postSigned(command: "C2C.CallbackBeforeSendMsg", body: body)
            #expect(denied.status == 200)
            #expect(denied.body == #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":1}"#)

            // No rule matches this one here: today's answer, and the target hears nothing of it.
            let before = target.requests.count
            let add = try await deny.callbacks().postSigned(command: "OfficialAccount.CallbackBeforeAddSubscriber",
                                                            body: Array(#"{"CallbackCommand":"OfficialAccount.CallbackBeforeAddSubscriber"}"#.utf8))
            #expect(add.status == 200)
            #expect(add.body == #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#)
            #expect(target.requests.count == before)
            let metrics = try await deny.callbacks().get("/metrics")
            #expect(metrics.body.contains(#"subscriber_sync_forward_before_total{target="\#(target.baseURL)/hook",outcome="fallback_failure"} 1"#),
                    "\(metrics.body)")
        }
    }

    @Test("routing: each after-callback goes to every rule that matches it")
    func routingByPattern() async throws {
        let (messages, groups, everything) = (try await FakeForwardTarget(), try await FakeForwardTarget(), try await FakeForwardTarget())
        try await withSandbox { sandbox in
            let service = try await Self.start(sandbox, forward: [
                "C2C.*=\(messages.baseURL)/c2c", "Group.*=\(groups.baseURL)/group", "\(everything.baseURL)/all",
            ])
            let client = service.callbacks()
            for command in ["C2C.CallbackAfterSendMsg", "Group.CallbackAfterSendMsg", "State.StateChange"] {
                #expect(try await client.postSigned(command: command, body: Array(#"{"CallbackCommand":"\#(command)"}"#.utf8)).status == 200)
            }
            try #require(await waitUntil(timeout: .seconds(60)) { everything.accepted.count == 3 }, "\(service.stderrText())")
            #expect(everything.accepted.map(\.command) == ["C2C.CallbackAfterSendMsg", "Group.CallbackAfterSendMsg", "State.StateChange"])
            try #require(await waitUntil(timeout: .seconds(10)) { messages.accepted.count == 1 && groups.accepted.count == 1 })
            #expect(messages.accepted.map(\.command) == ["C2C.CallbackAfterSendMsg"])
            #expect(groups.accepted.map(\.command) == ["Group.CallbackAfterSendMsg"])
        }
    }

    @Test("refused callbacks are never forwarded; a verified one this service cannot read still is")
    func refusedCallbacksAreNotForwarded() async throws {
        let target = try await FakeForwardTarget()
        try await withSandbox { sandbox in
            let service = try await Self.start(sandbox, forward: ["\(target.baseURL)/all"])
            let client = service.callbacks()
            var badSign = client.signedQuery(command: Self.sendCommand)
            badSign = badSign.map { $0.0 == "Sign" ? ("Sign", String(repeating: "0", count: 64)) : $0 }
            #expect(try await client.post(query: badSign, body: Self.message(1)).status != 200)
            let wrongApp = client.signedQuery(command: Self.sendCommand).map { $0.0 == "SdkAppid" ? ("SdkAppid", "1400000001") : $0 }
            #expect(try await client.post(query: wrongApp, body: Self.message(2)).status != 200)
            let stale = client.signedQuery(command: Self.sendCommand, requestTime: nowSeconds() - 3_600)
            #expect(try await client.post(query: stale, body: Self.message(3)).status != 200)
            let huge = Array(#"{"CallbackCommand":"C2C.CallbackAfterSendMsg","Pad":""#.utf8) + Array(repeating: UInt8(ascii: "x"), count: 1 << 20) + Array(#""}"#.utf8)
            #expect(try await client.postSigned(command: Self.sendCommand, body: huge).status != 200)
            // Verified, but not a body this service can read: refused here, passed on all the same.
            let unreadable = Array(#"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"#.utf8)
            #expect(try await client.postSigned(command: "OfficialAccount.CallbackAfterAddSubscriber", body: unreadable).status == 400)
            #expect(try await client.postSigned(command: Self.sendCommand, body: Self.message(5)).status == 200)
            // Deliveries to a target are in order: had any refused one been queued, it would come first.
            try #require(await waitUntil(timeout: .seconds(60)) { target.accepted.count >= 2 }, "\(service.stderrText())")
            #expect(target.requests.map(\.body) == [unreadable, Self.message(5)])
        }
    }

    @Test("a target that fails for a while then receives every job, in order", arguments: StorageEngine.allCases)
    func failingTargetCatchesUpInOrder(engine: StorageEngine) async throws {
        let target = try await FakeForwardTarget()
        target.behave { $0.status = 503 }
        try await withSandbox(engine: engine) { sandbox in
            let service = try await Self.start(sandbox, forward: ["C2C.*=\(target.baseURL)/cb"])
            let client = service.callbacks()
            for number in 0..<10 {
                #expect(try await client.postSigned(command: Self.sendCommand, body: Self.message(number)).status == 200)
            }
            try #require(await waitUntil(timeout: .seconds(60)) { target.requests.count >= 2 }, "retried: \(service.stderrText())")
            #expect(Set(target.requests.map(\.body)) == [Self.message(0)], "later jobs wait behind the failing one")
            #expect(Set(target.requests.compactMap(\.delivery)).count == 1, "a retry carries the same delivery id")
            // A failing target shows in the metrics, not in readiness.
            #expect(try await client.get("/readyz").status == 200)
            let pending = #"subscriber_sync_forward_pending{target="\#(target.baseURL)/cb"} 10"#
            var failing = ""
            #expect(try await waitUntil(timeout: .seconds(60)) {
                failing = try await client.get("/metrics").body
                return failing.contains(pending)
            }, "\(failing)")
            target.behave { $0.status = 200 }
            try #require(await waitUntil(timeout: .seconds(60)) { target.accepted.count >= 10 }, "\(service.stderrText())")
            #expect(target.accepted.map(\.body) == (0..<10).map(Self.message))
            // The forwarder counts a delivery once the target's answer is back, which can be just
            // after the target counted it; the delay histogram, just after that.
            let delivered = #"subscriber_sync_forward_deliveries_total{target="\#(target.baseURL)/cb",result="delivered"} 10"#
            var metrics = ""
            #expect(try await waitUntil(timeout: .seconds(60)) {
                metrics = try await client.get("/metrics").body
                return metrics.contains(delivered) && metrics.contains("subscriber_sync_forward_delay_seconds_count 10")
            }, "\(metrics)")
            #expect(!service.stderrText().contains(Self.forwardToken), "the forward token reached the log")
        }
    }

    @Test("kill -9 with jobs pending: every job is delivered after the restart", arguments: StorageEngine.allCases)
    func pendingJobsSurviveKill(engine: StorageEngine) async throws {
        let target = try await FakeForwardTarget()
        target.behave { $0.status = 503 }
        try await withSandbox(engine: engine) { sandbox in
            let first = try await Self.start(sandbox, forward: ["C2C.*=\(target.baseURL)/cb"])
            for number in 0..<10 {
                #expect(try await first.callbacks().postSigned(command: Self.sendCommand, body: Self.message(number)).status == 200)
            }
            try #require(await waitUntil(timeout: .seconds(60)) { !target.requests.isEmpty })
            await first.kill()
            target.behave { $0.status = 200 }
            let second = try await Self.start(sandbox, forward: ["C2C.*=\(target.baseURL)/cb"], name: "restarted")
            // A try in flight when the first process died may land after the kill: at least once.
            try #require(await waitUntil(timeout: .seconds(60)) { target.acceptedOnce.count >= 10 }, "\(second.stderrText())")
            #expect(target.acceptedOnce.map(\.body) == (0..<10).map(Self.message))
        }
    }

    @Test("jobs older than --forward-max-age are dead-lettered, listed, and queued again by --retry-dead",
          arguments: StorageEngine.allCases)
    func deadLetterAndRetry(engine: StorageEngine) async throws {
        let target = try await FakeForwardTarget()
        target.behave { $0.status = 500 }
        try await withSandbox(engine: engine) { sandbox in
            let url = "\(target.baseURL)/cb"
            let service = try await Self.start(sandbox, forward: ["C2C.*=\(url)"], extra: ["--forward-max-age", "2s"])
            for number in 0..<3 {
                #expect(try await service.callbacks().postSigned(command: Self.sendCommand, body: Self.message(number)).status == 200)
            }
            var listed = ""
            try #require(await waitUntil(timeout: .seconds(60), interval: .milliseconds(500)) {
                listed = (try? await Self.forwards(sandbox, ["--json"]).stdout) ?? ""
                return listed.contains(#""dead":3"#)
            }, "\(listed)\n\(service.stderrText())")
            #expect(listed.contains(#""target":"\#(url)""#))
            #expect(listed.contains(#""pending":0"#))
            #expect(service.stderrText().contains("dead-lettered"))
            let table = try await Self.forwards(sandbox)
            #expect(table.stdout.hasPrefix("TARGET"), "\(table.stdout)")

            let unknown = try await Self.forwards(sandbox, ["--retry-dead", "--target", "http://elsewhere.invalid/"])
            #expect(unknown.status == 1, "\(unknown.stderr)")
            #expect(try await Self.forwards(sandbox, ["--json"]).stdout.contains(#""dead":3"#), "nothing changed")

            target.behave { $0.status = 200 }
            let retried = try await Self.forwards(sandbox, ["--retry-dead", "--target", url])
            #expect(retried.status == 0, "\(retried.stderr)")
            #expect(retried.stdout.contains("queued 3 dead jobs again"), "\(retried.stdout)")
            try #require(await waitUntil(timeout: .seconds(60)) { target.accepted.count >= 3 }, "\(service.stderrText())")
            #expect(target.accepted.map(\.body) == (0..<3).map(Self.message))

            // Dead again, then dropped: the queue is empty and the dead gauge falls back to 0.
            target.behave { $0.status = 500 }
            #expect(try await service.callbacks().postSigned(command: Self.sendCommand, body: Self.message(3)).status == 200)
            try #require(await waitUntil(timeout: .seconds(60), interval: .milliseconds(500)) {
                (try? await Self.forwards(sandbox, ["--json"]).stdout.contains(#""dead":1"#)) ?? false
            })
            let dropped = try await Self.forwards(sandbox, ["--drop-dead"])
            #expect(dropped.stdout.contains("deleted 1 dead job"), "\(dropped.stdout)")
            #expect(try await Self.forwards(sandbox, ["--json"]).stdout.isEmpty)
            let gauge = #"subscriber_sync_forward_dead{target="\#(url)"} 0"#
            var metrics = ""
            try #require(await waitUntil(timeout: .seconds(15), interval: .milliseconds(500)) {
                metrics = (try? await service.callbacks().get("/metrics").body) ?? ""
                return metrics.contains(gauge)
            }, "\(metrics)")
        }
    }

    @Test("--forward-concurrency: several deliveries at once, every job once")
    func concurrentDeliveries() async throws {
        let target = try await FakeForwardTarget()
        target.behave { $0.delay = .milliseconds(50) }
        try await withSandbox { sandbox in
            let service = try await Self.start(sandbox, forward: ["C2C.*=\(target.baseURL)/cb"], extra: ["--forward-concurrency", "4"])
            for number in 0..<24 {
                #expect(try await service.callbacks().postSigned(command: Self.sendCommand, body: Self.message(number)).status == 200)
            }
            try #require(await waitUntil(timeout: .seconds(60)) { target.accepted.count >= 24 }, "\(service.stderrText())")
            #expect(Set(target.accepted.map(\.body)) == Set((0..<24).map(Self.message)))
            #expect(target.requests.count == 24, "each once")
            #expect(Set(target.requests.compactMap(\.delivery)).count == 24)
        }
    }

    /// A `--forward-pipeline 8` service with `jobs` callbacks queued for `target`, which refuses
    /// (503) until the first job has been tried again, alone: the rest then go out in windows.
    static func startPipelined(_ sandbox: Sandbox, target: FakeForwardTarget, jobs: Int) async throws -> ServiceProcess {
        target.behave { $0.status = 503 }
        let service = try await start(sandbox, forward: ["C2C.*=\(target.baseURL)/cb"], extra: ["--forward-pipeline", "8"])
        let client = service.callbacks()
        for number in 0..<jobs {
            #expect(try await client.postSigned(command: sendCommand, body: message(number)).status == 200)
        }
        try #require(await waitUntil(timeout: .seconds(60)) { target.requests.filter { $0.body == message(0) }.count >= 2 },
                     "retried: \(service.stderrText())")
        return service
    }

    @Test("--forward-pipeline: jobs go out several at once on one connection, in the order received, each once",
          arguments: StorageEngine.allCases)
    func pipelinedDeliveriesKeepTheOrder(engine: StorageEngine) async throws {
        let target = try await FakeForwardTarget()
        try await withSandbox(engine: engine) { sandbox in
            let service = try await Self.startPipelined(sandbox, target: target, jobs: 40)
            target.behave { $0.status = 200 }
            try #require(await waitUntil(timeout: .seconds(60)) { target.accepted.count >= 40 }, "\(service.stderrText())")
            #expect(target.accepted.map(\.body) == (0..<40).map(Self.message), "in order, each accepted once")
            // Refused: one window (the jobs queued when the first try went out, in order), then
            // only the first job again, alone.
            let refused = target.requests.filter { $0.status != 200 }.map(\.body)
            let retries = refused.dropFirst().firstIndex(of: Self.message(0)) ?? refused.endIndex
            #expect(refused[..<retries] == ArraySlice((0..<retries).map(Self.message)))
            #expect(retries <= 8)
            #expect(refused[retries...].allSatisfy { $0 == Self.message(0) })
            #expect(Set(target.accepted.compactMap(\.delivery)).count == 40)
        }
    }

    @Test("--forward-pipeline: a job refused inside a window comes after the jobs sent behind it, each once")
    func pipelinedRefusalInsideAWindow() async throws {
        let target = try await FakeForwardTarget()
        try await withSandbox { sandbox in
            let service = try await Self.startPipelined(sandbox, target: target, jobs: 12)
            target.behave {
                $0.status = 200
                $0.refuseOnce = [Self.message(3)]
            }
            try #require(await waitUntil(timeout: .seconds(60)) { target.accepted.count >= 12 }, "\(service.stderrText())")
            // Job 0 alone, then the window 1…8 with 3 refused, 3 again alone after its backoff, then 9…11.
            #expect(target.accepted.map(\.body) == [0, 1, 2, 4, 5, 6, 7, 8, 3, 9, 10, 11].map(Self.message))
            #expect(target.acceptedOnce.count == 12)
        }
    }

    @Test("two replicas on PostgreSQL: each job delivered once per target, in the order received")
    func replicasDeliverOnceInOrder() async throws {
        let target = try await FakeForwardTarget()
        try await withSandbox(engine: .postgres) { sandbox in
            let rules = ["C2C.*=\(target.baseURL)/cb"]
            let replicas = [try await Self.start(sandbox, forward: rules, name: "a"), try await Self.start(sandbox, forward: rules, name: "b")]
            for number in 0..<40 {
                let reply = try await replicas[number % 2].callbacks().postSigned(command: Self.sendCommand, body: Self.message(number))
                #expect(reply.status == 200)
            }
            try #require(await waitUntil(timeout: .seconds(60)) { target.accepted.count >= 40 }, "\(sandbox.allStderr())")
            // A moment for a second delivery, were there one.
            _ = await waitUntil(timeout: .seconds(2)) { target.requests.count > 40 }
            #expect(target.requests.count == 40, "no job was delivered twice")
            #expect(target.accepted.map(\.body) == (0..<40).map(Self.message))
        }
    }
}
