import Testing
@testable import SubscriberSync

@Suite struct CallbackSignatureTests {
    @Test func officialVector() throws {
        let vector = try Resources.json("callback-sign-test-vector.json")
        let token = try #require(vector["Token"] as? String)
        let requestTime = try #require(vector["RequestTime"] as? String)
        let sign = try #require(vector["Sign"] as? String)
        let signature = CallbackSignature(token: token)
        #expect(signature.sign(requestTime: requestTime) == sign)
        #expect(signature.isValid(sign: sign, requestTime: requestTime))
        #expect(signature.isValid(sign: sign.uppercased(), requestTime: requestTime))
    }

    @Test func rejectsAnythingElse() {
        let signature = CallbackSignature(token: "xxxxyyyy")
        let good = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
        #expect(!signature.isValid(sign: good, requestTime: "1669872113"))
        #expect(!signature.isValid(sign: String(good.dropLast()), requestTime: "1669872112"))
        #expect(!signature.isValid(sign: good + "0", requestTime: "1669872112"))
        #expect(!signature.isValid(sign: "", requestTime: "1669872112"))
        var flipped = Array(good)
        flipped[10] = flipped[10] == "0" ? "1" : "0"
        #expect(!signature.isValid(sign: String(flipped), requestTime: "1669872112"))
        #expect(!CallbackSignature(token: "xxxyyy").isValid(sign: good, requestTime: "1669872112"))
    }
}

@Suite struct CallbackVerifierTests {
    let clock = FakeClock(milliseconds: 1_669_872_112_000)

    func verifier(token: String? = "xxxxyyyy") -> CallbackVerifier {
        CallbackVerifier(sdkAppID: "1400000000", callbackToken: token, requestTimeWindowSeconds: 60, clock: clock)
    }

    func query(app: String? = "1400000000", sign: String? = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061",
               time: String? = "1669872112") -> CallbackQuery {
        CallbackQuery(sdkAppID: app, sign: sign, requestTime: time)
    }

    func refusal(_ verifier: CallbackVerifier, _ query: CallbackQuery) -> CallbackRefusal.Reason? {
        do { try verifier.verify(query: query); return nil } catch { return error.reason }
    }

    @Test func acceptsTheOfficialSample() {
        #expect(refusal(verifier(), query()) == nil)
    }

    @Test func wrongAppIsCheckedFirst() {
        #expect(refusal(verifier(), query(app: "1400000001", sign: nil)) == .wrongApp)
        #expect(refusal(verifier(), query(app: nil)) == .wrongApp)
        #expect(refusal(verifier(token: nil), query(app: "1")) == .wrongApp)
    }

    @Test func signatureIsRequiredWithAToken() {
        #expect(refusal(verifier(), query(sign: nil)) == .badSignature)
        #expect(refusal(verifier(), query(time: nil)) == .badSignature)
        #expect(refusal(verifier(), query(sign: String(repeating: "0", count: 64))) == .badSignature)
        #expect(CallbackRefusal(.badSignature, "").status == .unauthorized)
    }

    @Test func requestTimeWindow() {
        clock.set(milliseconds: 1_669_872_172_000)  // exactly 60 s later
        #expect(refusal(verifier(), query()) == nil)
        clock.set(milliseconds: 1_669_872_173_000)
        #expect(refusal(verifier(), query()) == .staleRequestTime)
        clock.set(milliseconds: 1_669_872_051_000)  // 61 s earlier: a clock ahead of ours
        #expect(refusal(verifier(), query()) == .staleRequestTime)
    }

    @Test func extremeRequestTimesAreRefusedNotTrapped() {
        for time in ["-9223372036854775808", "-9223372036854775807", "9223372036854775807", "99999999999999999999"] {
            let query = CallbackQuery(sdkAppID: "1400000000", sign: CallbackSignature(token: "xxxxyyyy").sign(requestTime: time), requestTime: time)
            #expect(refusal(verifier(), query) == .staleRequestTime, "\(time)")
        }
    }

    @Test func withoutTokenOnlyTheAppIsChecked() {
        #expect(refusal(verifier(token: nil), query(sign: nil, time: nil)) == nil)
    }
}
