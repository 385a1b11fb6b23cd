import Foundation
import Testing
@testable import SubscriberSync

@Suite struct FileEventSinkTests {
    let directory: TemporaryDirectory
    init() throws { directory = try TemporaryDirectory() }

    func contents(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    @Test func appendsAndTerminatesAPartialLineLeftByACrash() throws {
        let path = directory.file("events.jsonl")
        try "{\"complete\":1}\n{\"partial".write(toFile: path, atomically: false, encoding: .utf8)
        let sink = try FileEventSink(path: path)
        try sink.write(line: Array("{\"next\":2}\n".utf8))
        try sink.sync()
        sink.close()
        #expect(contents(path) == "{\"complete\":1}\n{\"partial\n{\"next\":2}\n")
    }

    @Test func reopenFollowsLogrotateCreate() throws {
        let path = directory.file("events.jsonl")
        let sink = try FileEventSink(path: path)
        try sink.write(line: Array("one\n".utf8))
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try sink.write(line: Array("two\n".utf8))  // still the renamed file
        try sink.reopen()
        try sink.write(line: Array("three\n".utf8))
        sink.close()
        #expect(contents(path + ".1") == "one\ntwo\n")
        #expect(contents(path) == "three\n")
    }

    @Test func rotatesBySizeWithoutSplittingLines() throws {
        let path = directory.file("events.jsonl")
        let clock = FakeClock(milliseconds: 1_670_574_414_123)
        let sink = try FileEventSink(path: path, rotateBytes: 1024, clock: clock)
        let line = Array((String(repeating: "x", count: 299) + "\n").utf8)
        for _ in 0..<7 { try sink.write(line: line) }
        sink.close()
        let rotated = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0 != "events.jsonl" }.sorted()
        #expect(rotated == ["events.jsonl.20221209T082654.123Z", "events.jsonl.20221209T082654.123Z-1"])
        for name in rotated {
            #expect(contents(directory.file(name)).utf8.count == 900, "three whole lines per rotated file")
        }
        #expect(contents(path).utf8.count == 300)
    }
}

@Suite struct TimestampsTests {
    @Test func rfc3339() {
        #expect(Timestamps.rfc3339(milliseconds: 1_670_574_414_123) == "2022-12-09T08:26:54.123Z")
        #expect(Timestamps.rfc3339(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamps.rfc3339(milliseconds: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(Timestamps.rfc3339(milliseconds: 253_402_300_799_999) == "9999-12-31T23:59:59.999Z")
    }

    @Test func fileStamp() {
        #expect(Timestamps.fileStamp(milliseconds: 1_670_574_414_123) == "20221209T082654.123Z")
        #expect(Timestamps.fileStamp(milliseconds: 5) == "19700101T000000.005Z")
    }
}
