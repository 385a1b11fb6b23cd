import NIOCore
import Testing
@testable import SubscriberSync

@Suite struct CallbackBodyParserTests {
    let parser = CallbackBodyParser()

    func parse(_ json: String, query: String? = nil) -> Result<CallbackCommand, CallbackRefusal> {
        do throws(CallbackRefusal) {
            return .success(try parser.parse(body: ByteBuffer(string: json), queryCommand: query))
        } catch {
            return .failure(error)
        }
    }

    func sample(_ name: String, query: String? = nil) throws -> CallbackCommand {
        let data = try Resources.data(name)
        return try parser.parse(body: ByteBuffer(bytes: data), queryCommand: query)
    }

    @Test func recordedSamples() throws {
        #expect(try sample("webhook-after-add-subscriber.request.json") == .subscribersAdded(
            SubscriberCallback(account: "@TOA#_test_for_penn", operatorAccount: "107867", subscribers: ["jared", "leckie"], eventTime: 1_670_574_414_123)))
        #expect(try sample("webhook-after-delete-subscriber.request.json") == .subscribersDeleted(
            SubscriberCallback(account: "@TOA#_test_OA_for_penn", operatorAccount: "leckie", subscribers: ["jared", "leckie"], eventTime: 1_670_574_414_123)))
        #expect(try sample("webhook-after-official-account-destroyed.request.json") == .accountDestroyed(account: "@TOA#_test_OA_for_penn", eventTime: 1_670_574_414_123))
        #expect(try sample("webhook-before-add-subscriber.request.json") == .beforeAddSubscriber)
        #expect(try sample("webhook-after-create-official-account.request.json") == .accountCreated(account: "@TOA#_test_OA_for_penn", eventTime: 1_670_574_414_123))
        for other in ["webhook-after-send-msg.request.json", "webhook-after-msg-withdraw.request.json",
                      "webhook-alert-request-over-limit.request.json", "webhook-after-official-account-full.request.json",
                      "webhook-after-official-account-info-changed.request.json", "webhook-before-send-msg.request.json",
                      "webhook-before-create-official-account.request.json"] {
            guard case .other = try sample(other) else {
                Issue.record("\(other) should be an ignored command")
                continue
            }
        }
    }

    @Test func bodyCommandWinsAndQueryIsTheFallback() {
        let body = #"{"Official_Account":"@TOA#_a","SubscribeAccountList":[{"Subscriber_Account":"u"}],"EventTime":5}"#
        guard case .success(.subscribersDeleted) = parse(body, query: CallbackCommand.afterDeleteSubscriber) else {
            Issue.record("query command should be used when the body has none"); return
        }
        let withCommand = #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a","SubscribeAccountList":[],"EventTime":5}"#
        guard case .success(.subscribersAdded) = parse(withCommand, query: CallbackCommand.afterDeleteSubscriber) else {
            Issue.record("body command should win"); return
        }
        guard case .failure(let refusal) = parse(body, query: nil) else { Issue.record("no command at all must be refused"); return }
        #expect(refusal.reason == .malformed)
    }

    @Test(arguments: [
        "", "not json", "[1,2]", "\"text\"", "42", "null", "{",
        #"{"CallbackCommand":7}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber"}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a","SubscribeAccountList":[{"Subscriber_Account":"u"}],"EventTime":"5"}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a","SubscribeAccountList":[{"Subscriber_Account":"u"}],"EventTime":1.5}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a","SubscribeAccountList":[{"Subscriber_Account":"u"}],"EventTime":0}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a","SubscribeAccountList":[{"Subscriber_Account":"u"}],"EventTime":-3}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a","SubscribeAccountList":[{"Subscriber_Account":"u"}],"EventTime":99999999999999999999}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a","SubscribeAccountList":[{"Account":"u"}],"EventTime":5}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a","SubscribeAccountList":[{"Subscriber_Account":""}],"EventTime":5}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a","SubscribeAccountList":["u"],"EventTime":5}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a","SubscribeAccountList":{"Subscriber_Account":"u"},"EventTime":5}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":null,"SubscribeAccountList":[],"EventTime":5}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"","SubscribeAccountList":[],"EventTime":5}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterDeleteSubscriber","Official_Account":"@TOA#_a","Operator_Account":5,"SubscribeAccountList":[],"EventTime":5}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountDestroyed","Official_Account":"@TOA#_a"}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a","SubscribeAccountList":[{"Subscriber_Account":"nul\u0000one"}],"EventTime":5}"#,
        #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a\n","SubscribeAccountList":[],"EventTime":5}"#,
    ])
    func refusesMalformedBodies(_ body: String) {
        guard case .failure(let refusal) = parse(body) else {
            Issue.record("accepted: \(body)"); return
        }
        #expect(refusal.reason == .malformed)
        #expect(refusal.status == .badRequest)
    }

    @Test func identifierLengthIsBounded() {
        let long = String(repeating: "x", count: TencentIdentifier.maxBytes + 1)
        let body = #"{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_a","SubscribeAccountList":[{"Subscriber_Account":"\#(long)"}],"EventTime":5}"#
        guard case .failure = parse(body) else { Issue.record("an over-long id was accepted"); return }
        let fits = String(repeating: "x", count: TencentIdentifier.maxBytes)
        guard case .success = parse(body.replacingOccurrences(of: long, with: fits)) else { Issue.record("a max-length id was refused"); return }
    }

    @Test func unknownCommandsNeedOnlyAnObject() {
        guard case .success(.other(let name)) = parse(#"{"CallbackCommand":"C2C.CallbackAfterSendMsg","EventTime":"whatever"}"#) else {
            Issue.record("other commands must be accepted"); return
        }
        #expect(name == "C2C.CallbackAfterSendMsg")
        guard case .success(.beforeAddSubscriber) = parse("{}", query: CallbackCommand.beforeAddSubscriberName) else {
            Issue.record("before-add must be allowed"); return
        }
    }
}
