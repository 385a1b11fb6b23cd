import Foundation
import Testing
@testable import SubscriberSync

/// `--forward` rules, their settings, and the request that passes a callback on.
@Suite struct ForwardRulesTests {
    @Test func parsesPatternsAndURLs() throws {
        let rule = try ForwardRule.parse("C2C.*, Group.*=https://im-backend.internal/callback")
        #expect(rule == ForwardRule(patterns: ["C2C.*", "Group.*"], url: "https://im-backend.internal/callback"))
        // A URL alone matches everything, and its own `=` is not the separator.
        let all = try ForwardRule.parse("https://backend/cb?tenant=a&x=1")
        #expect(all == ForwardRule(patterns: [], url: "https://backend/cb?tenant=a&x=1"))
        #expect(all.matches("State.StateChange"))
    }

    @Test(arguments: ["", "C2C.*=", "=https://a/b", "C2C.*,=https://a/b", "C2C.*=ftp://a/b", "C2C.*=https:///nohost",
                      "C2C.*;x=https://a/b", "backend/cb", "https://a/b#frag", "C2C.*=https://user:pw@backend/cb"])
    func refusesBadRules(text: String) {
        #expect(throws: ForwardRule.Invalid.self) { try ForwardRule.parse(text) }
    }

    @Test func errorsNeverShowCredentials() {
        do {
            _ = try ForwardRule.parse("C2C.*=ftp://user:hunter2@host/x?token=s3cret")
            Issue.record("accepted a non-HTTP URL")
        } catch {
            #expect(!error.description.contains("hunter2") && !error.description.contains("s3cret"), "\(error.description)")
        }
        do {
            _ = try ForwardRule.parse("https://user:hunter2@host/x")
            Issue.record("accepted a URL with a password")
        } catch {
            #expect(!error.description.contains("hunter2"), "\(error.description)")
            #expect(error.description.contains("user or password"), "\(error.description)")
        }
    }

    @Test(arguments: [
        ("C2C.*", "C2C.CallbackAfterSendMsg", true), ("C2C.*", "Group.CallbackAfterSendMsg", false),
        ("*.CallbackBefore*", "Group.CallbackBeforeSendMsg", true), ("*.CallbackBefore*", "Group.CallbackAfterSendMsg", false),
        ("OfficialAccount.CallbackAfterAddSubscriber", "OfficialAccount.CallbackAfterAddSubscriber", true),
        ("OfficialAccount.CallbackAfterAddSubscriber", "OfficialAccount.CallbackAfterAddSubscriberX", false),
        ("*", "", true), ("a*b*c", "aXXbYYc", true), ("a*b*c", "aXXbYY", false), ("**", "anything", true),
    ])
    func globs(pattern: String, command: String, matches: Bool) {
        #expect(ForwardRule.glob(pattern, matches: command) == matches)
    }

    @Test func beforeGoesToTheFirstMatchAfterToEveryMatch() throws {
        let options = ForwardOptions(rules: [
            try ForwardRule.parse("C2C.*=http://one/"), try ForwardRule.parse("*.CallbackBefore*=http://two/"), try ForwardRule.parse("http://one/"),
        ])
        #expect(options.beforeRule(for: "C2C.CallbackBeforeSendMsg")?.url == "http://one/")
        #expect(options.beforeRule(for: "Group.CallbackBeforeSendMsg")?.url == "http://two/")
        #expect(options.afterTargets(for: "C2C.CallbackAfterSendMsg") == ["http://one/"], "each target once")
        #expect(options.afterTargets(for: "Group.CallbackAfterSendMsg") == ["http://one/"])
        #expect(ForwardOptions.isBeforeCallback("OfficialAccount.CallbackBeforeAddSubscriber"))
        #expect(!ForwardOptions.isBeforeCallback("OfficialAccount.CallbackAfterAddSubscriber"))
    }

    @Test func displayNameDropsCredentialsAndQuery() {
        let named = ForwardRule.displayName("https://user:secret@backend:8443/cb?token=abc")
        #expect(named.hasPrefix("https://backend:8443/cb?(query ") && !named.contains("secret") && !named.contains("abc"), "\(named)")
        #expect(ForwardRule.displayName("http://127.0.0.1:9000/cb") == "http://127.0.0.1:9000/cb")
        // Targets that differ only in their query keep apart, and each keeps its name.
        let a = ForwardRule.displayName("http://h/cb?tenant=a")
        #expect(a != ForwardRule.displayName("http://h/cb?tenant=b"))
        #expect(a == ForwardRule.displayName("http://h/cb?tenant=a"))
        #expect(a.count == "http://h/cb?(query 12345678)".count, "\(a)")
    }

    @Test func requestURLKeepsTheQueryAndSignsAfresh() {
        let query = "SdkAppid=1400000000&CallbackCommand=C2C.CallbackAfterSendMsg&RequestTime=1&Sign=old&ClientIP=1.2.3.4&OptPlatform=Web%20App"
        let signature = CallbackSignature(token: "forward")
        let signed = ForwardRequest.url(target: "https://b/cb?tenant=a", query: query, signature: signature, nowSeconds: 1_700_000_000)
        #expect(signed == "https://b/cb?tenant=a&SdkAppid=1400000000&CallbackCommand=C2C.CallbackAfterSendMsg&ClientIP=1.2.3.4&OptPlatform=Web%20App"
                + "&RequestTime=1700000000&Sign=\(signature.sign(requestTime: "1700000000"))")
        let unsigned = ForwardRequest.url(target: "https://b/cb", query: query, signature: nil, nowSeconds: 1_700_000_000)
        #expect(unsigned == "https://b/cb?SdkAppid=1400000000&CallbackCommand=C2C.CallbackAfterSendMsg&ClientIP=1.2.3.4&OptPlatform=Web%20App")
    }

    @Test(arguments: [
        ("https://b/cb?", "a=1&Sign=x", "https://b/cb?a=1"),
        ("https://b/cb?t=1&", "a=1", "https://b/cb?t=1&a=1"),
        ("https://b/cb", "", "https://b/cb"),
        ("https://b/cb", "a=1&&b=2&", "https://b/cb?a=1&b=2"),
        ("https://b/cb", "Signature=k&Sign&RequestTime&RequestTimes=2", "https://b/cb?Signature=k&RequestTimes=2"),
        ("/cb?x=%E4%BD%A0", "n=%20&ü=1", "/cb?x=%E4%BD%A0&n=%20&ü=1"),
    ])
    func requestURLEdges(target: String, query: String, expected: String) {
        #expect(ForwardRequest.url(target: target, query: query, signature: nil, nowSeconds: 0) == expected)
    }

    @Test func backoffGrowsToItsCeilingWithJitter() {
        for attempts in 1...40 {
            let delay = Forwarder.backoff(attempts: attempts, minimum: .seconds(1), maximum: .seconds(300))
            let ceiling = min(300.0, pow(2.0, Double(attempts - 1)))
            #expect(delay >= .seconds(1) && delay <= .seconds(ceiling), "attempt \(attempts): \(delay)")
            #expect(delay >= .milliseconds(Int64(max(1_000, ceiling * 800))), "attempt \(attempts): \(delay)")
        }
    }

    @Test func settingsFromFlagsEnvironmentAndFile() async throws {
        let base: [ServiceSettings.Key: [String]] = [.sdkappid: ["1400000000"]]
        let defaults = try await ServiceSettings.load(flags: base, configFile: nil, environment: ["TENCENT_CALLBACK_TOKEN": "cb"])
        #expect(defaults.forwarding.rules.isEmpty)
        #expect(defaults.forwarding.timeout == .milliseconds(1_500))
        #expect(defaults.forwarding.beforeFallback == .allow)
        #expect(defaults.forwarding.maxAgeMilliseconds == 86_400_000)
        #expect(defaults.forwarding.token == "cb", "the callback token signs by default")

        let environment = ["SUBSCRIBER_SYNC_FORWARD": "C2C.*,Group.*=http://a/cb; http://b/cb", "SUBSCRIBER_SYNC_FORWARD_TOKEN": "fwd",
                           "SUBSCRIBER_SYNC_FORWARD_TIMEOUT": "2s", "SUBSCRIBER_SYNC_FORWARD_BEFORE_FALLBACK": "deny",
                           "SUBSCRIBER_SYNC_FORWARD_MAX_AGE": "90m", "TENCENT_CALLBACK_TOKEN": "cb"]
        let fromEnvironment = try await ServiceSettings.load(flags: base, configFile: nil, environment: environment)
        #expect(fromEnvironment.forwarding.rules == [ForwardRule(patterns: ["C2C.*", "Group.*"], url: "http://a/cb"),
                                                     ForwardRule(patterns: [], url: "http://b/cb")])
        #expect(fromEnvironment.forwarding.token == "fwd")
        #expect(fromEnvironment.forwarding.timeout == .seconds(2))
        #expect(fromEnvironment.forwarding.beforeFallback == .deny)
        #expect(fromEnvironment.forwarding.maxAgeMilliseconds == 90 * 60_000)
        #expect(fromEnvironment.forwarding.concurrency == 1, "one delivery at a time by default")
        #expect(fromEnvironment.warnings.isEmpty, "SUBSCRIBER_SYNC_FORWARD_TOKEN is known: \(fromEnvironment.warnings)")

        var flags = base
        flags[.forward] = ["C2C.*=http://flag/cb"]
        #expect(try await ServiceSettings.load(flags: flags, configFile: nil, environment: environment).forwarding.rules.map(\.url) == ["http://flag/cb"])

        let directory = try TemporaryDirectory()
        let file = directory.file("config.yaml")
        try """
            sdkappid: 1400000000
            forward:
              - "C2C.*,Group.*=http://file/im"
              - "OfficialAccount.*=http://file/oa"
            forwardTimeout: 750ms
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try await ServiceSettings.load(flags: [:], configFile: file, environment: [:])
        #expect(fromFile.forwarding.rules.map(\.url) == ["http://file/im", "http://file/oa"])
        #expect(fromFile.forwarding.rules[0].patterns == ["C2C.*", "Group.*"])
        #expect(fromFile.forwarding.timeout == .milliseconds(750))
        #expect(fromFile.forwarding.token == nil)
    }

    @Test func aForwardTokenNeedsACallbackToken() async {
        await #expect(throws: ServiceSettings.Invalid.self) {
            try await ServiceSettings.load(flags: [.sdkappid: ["1400000000"]], configFile: nil,
                                           environment: ["SUBSCRIBER_SYNC_FORWARD_TOKEN": "fwd", "SUBSCRIBER_SYNC_FORWARD": "http://a/cb"])
        }
    }

    @Test(arguments: [("SUBSCRIBER_SYNC_FORWARD", "C2C.*=ftp://x/"), ("SUBSCRIBER_SYNC_FORWARD_TIMEOUT", "0ms"),
                      ("SUBSCRIBER_SYNC_FORWARD_TIMEOUT", "fast"), ("SUBSCRIBER_SYNC_FORWARD_BEFORE_FALLBACK", "maybe"),
                      ("SUBSCRIBER_SYNC_FORWARD_MAX_AGE", "100ms"), ("SUBSCRIBER_SYNC_FORWARD_CONCURRENCY", "0"),
                      ("SUBSCRIBER_SYNC_FORWARD_CONCURRENCY", "65"), ("SUBSCRIBER_SYNC_FORWARD_PIPELINE", "0"),
                      ("SUBSCRIBER_SYNC_FORWARD_PIPELINE", "65")])
    func invalidForwardSettingsAreRefused(variable: String, value: String) async {
        await #expect(throws: ServiceSettings.Invalid.self) {
            try await ServiceSettings.load(flags: [.sdkappid: ["1400000000"]], configFile: nil, environment: [variable: value])
        }
    }

    @Test func pipeliningIsReadAndExcludesConcurrency() async throws {
        let settings = try await ServiceSettings.load(flags: [.sdkappid: ["1400000000"], .forwardPipeline: ["16"]], configFile: nil, environment: [:])
        #expect(settings.forwarding.pipeline == 16)
        let defaults = try await ServiceSettings.load(flags: [.sdkappid: ["1400000000"]], configFile: nil, environment: [:])
        #expect(defaults.forwarding.pipeline == 1)
        await #expect(throws: ServiceSettings.Invalid.self) {
            try await ServiceSettings.load(flags: [.sdkappid: ["1400000000"], .forwardPipeline: ["4"]], configFile: nil,
                                           environment: ["SUBSCRIBER_SYNC_FORWARD_CONCURRENCY": "2"])
        }
    }
}
