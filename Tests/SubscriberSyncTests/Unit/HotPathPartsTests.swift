import Foundation
import GRDB
import Synchronization
import Testing
@testable import SubscriberSync

/// The small pieces the callback path is built from for speed.
@Suite struct HotPathPartsTests {
    @Test func callbackQueryReadsLikeHummingbird() {
        let query = CallbackQuery(urlQuery: "SdkAppid=1400&CallbackCommand=OfficialAccount.X&Sign=ab%63&RequestTime=17&SdkAppid=999&x")
        #expect(query.sdkAppID == "1400")  // the first occurrence wins
        #expect(query.callbackCommand == "OfficialAccount.X")
        #expect(query.sign == "abc")  // percent-decoded
        #expect(query.requestTime == "17")
        let odd = CallbackQuery(urlQuery: "Sign=%zz&RequestTime&CallbackCommand=a=b")
        #expect(odd.sign == "%zz")  // undecodable: kept as given
        #expect(odd.requestTime == "")  // a key without "=" has an empty value
        #expect(odd.callbackCommand == "a=b")
        #expect(odd.sdkAppID == nil)
        #expect(CallbackQuery(urlQuery: nil).sign == nil)
    }

    @Test func signaturesStayCorrectBeyondTheCache() {
        let signature = CallbackSignature(token: "xxxxyyyy")
        for second in 0..<100 {
            let time = String(1_669_872_112 + second)
            let sign = signature.sign(requestTime: time)
            #expect(signature.isValid(sign: sign, requestTime: time))
            #expect(!signature.isValid(sign: sign, requestTime: String(1_669_872_112 + second + 1)))
        }
        // Remembered signs are the same as freshly computed ones.
        #expect(signature.sign(requestTime: "1669872150") == CallbackSignature(token: "xxxxyyyy").sign(requestTime: "1669872150"))
        #expect(signature.sign(requestTime: "1669872150") != CallbackSignature(token: "other").sign(requestTime: "1669872150"))
    }

    @Test func digitsArePaddedAndExact() {
        func digits(_ value: Int64, _ width: Int) -> String {
            var bytes: [UInt8] = []
            Timestamps.appendDigits(value, width: width, to: &bytes)
            return String(decoding: bytes, as: UTF8.self)
        }
        #expect(digits(0, 3) == "000")
        #expect(digits(7, 1) == "7")
        #expect(digits(12345, 3) == "12345")
        #expect(digits(Int64.max, 20) == "09223372036854775807")
        #expect(digits(10_000_000_000_000_000_00 / 100, 20) == "00010000000000000000")
        for _ in 0..<1000 {
            let value = Int64.random(in: 0...Int64.max)
            #expect(digits(value, 20) == String(repeating: "0", count: 20 - String(value).count) + String(value))
        }
    }

    @Test func jsonStringsEscapeOnlyWhatTheyMust() {
        var bytes: [UInt8] = []
        JSONObjectWriter.appendString("plain @TOA#_x é", to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "\"plain @TOA#_x é\"")
        bytes = []
        JSONObjectWriter.appendString("q\"b\\n\nt\t\u{01}", to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == #""q\"b\\n\nt\t\u0001""#)
    }

    @Test func boundStatementsBindEmptyTextAsTextAndReadNulls() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            let statement = BoundStatement(try db.cachedStatement(sql: "SELECT ? IS NULL, length(?), ?, ?"))
            try statement.bind(1, "")
            try statement.bind(2, "héllo")
            try statement.bind(3, nil as String?)
            try statement.bind(4, Int64.min)
            #expect(try statement.step())
            #expect(statement.int64(0) == 0)
            #expect(statement.int64(1) == 5)
            #expect(statement.optionalString(2) == nil)
            #expect(statement.optionalInt64(3) == Int64.min)
            #expect(try !statement.step())
            // A parameter that does not exist is an error, not a silently unbound value.
            #expect(throws: DatabaseError.self) { try statement.bind(9, "x") }
        }
        // A failing statement reports SQLite's error.
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (x TEXT NOT NULL)")
            let insert = BoundStatement(try db.cachedStatement(sql: "INSERT INTO t (x) VALUES (?)"))
            try insert.bind(1, nil as String?)
            #expect(throws: DatabaseError.self) { try insert.execute() }
        }
    }

    @Test func blockingQueueHandsOverInOrderAndEndsOnClose() async throws {
        let queue = BlockingQueue<Int>()
        let received = Mutex<[Int]>([])
        let done = DispatchSemaphore(value: 0)
        Thread {
            while let items = queue.take(limit: 3) {
                #expect(items.count <= 3)
                received.withLock { $0.append(contentsOf: items) }
            }
            done.signal()
        }.start()
        for value in 0..<1000 {
            #expect(queue.put(value))
            if value % 97 == 0 { try await Task.sleep(for: .milliseconds(1)) }
        }
        queue.close()
        #expect(!queue.put(1000))
        await withCheckedContinuation { continuation in
            Thread { done.wait(); continuation.resume() }.start()
        }
        #expect(received.withLock { $0 } == Array(0..<1000))
    }

    @Test func boundedCacheForgetsWhenFull() {
        let cache = BoundedCache<Int, String>(capacity: 4)
        for key in 0..<4 { cache.remember(key, "\(key)") }
        #expect(cache.lookup(3) == "3")
        cache.remember(4, "4")
        #expect(cache.lookup(0) == nil)
        #expect(cache.lookup(4) == "4")
    }
}
