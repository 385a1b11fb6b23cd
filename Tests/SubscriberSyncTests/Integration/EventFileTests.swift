import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The events file as operators handle it: logrotate (rename + SIGHUP), size rotation, and a file
/// left ending in a partial line.
@Suite("Integration: events file operations", .timeLimit(.minutes(5)))
struct IntegrationEventFileTests {
    static let t0 = IntegrationDefaults.baseEventTime

    @Test("SIGHUP reopens: after the file is renamed away, new events land in a new file at PATH", arguments: StorageEngine.allCases)
    func hangupReopens(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let service = try await sandbox.startService()
            let callbacks = service.callbacks()
            let path = service.eventsPath
            let rotated = path + ".1"

            #expect(try await callbacks.subscribe(["before-rotate"], eventTime: Self.t0).isOK)
            #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(path).count == 1 })

            // logrotate without `create`: rename, then the postrotate SIGHUP.
            #expect(rename(path, rotated) == 0)
            await service.send(signal: SIGHUP)
            let recreated = await waitUntil(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: path) }
            #expect(recreated, "no new file at PATH after SIGHUP")

            #expect(try await callbacks.subscribe(["after-rotate"], eventTime: Self.t0 + 1).isOK)
            #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(path).count == 1 },
                    "the new event did not land in the new file")
            #expect(service.isRunning, "SIGHUP stopped the service: \(service.exitDescription())")
            #expect(try await service.terminate() == .exited(0))

            let old = try EventFile.read(rotated).events()
            let new = try EventFile.read(path).events()
            #expect(old.map { "\($0.sequence) \($0.subject ?? "")" } == ["1 before-rotate"])
            #expect(new.map { "\($0.sequence) \($0.subject ?? "")" } == ["2 after-rotate"])
        }
    }

    @Test("SIGHUP after logrotate `create` (a new empty PATH made by logrotate) appends there", arguments: StorageEngine.allCases)
    func hangupAfterCreate(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let service = try await sandbox.startService()
            let callbacks = service.callbacks()
            let path = service.eventsPath
            #expect(try await callbacks.subscribe(["one"], eventTime: Self.t0).isOK)
            #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(path).count == 1 })

            #expect(rename(path, path + ".1") == 0)
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            await service.send(signal: SIGHUP)
            // The file already exists, so only the log tells that the reopen happened.
            #expect(await service.waitForStderr(containing: "reopened event output", timeout: .seconds(20)),
                    "no reopen logged after SIGHUP: \(service.stderrText())")

            #expect(try await callbacks.subscribe(["two"], eventTime: Self.t0 + 1).isOK)
            #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(path).count == 1 })
            #expect(try await service.terminate() == .exited(0))
            #expect(try EventFile.read(path + ".1").events().compactMap(\.subject) == ["one"])
            #expect(try EventFile.read(path).events().compactMap(\.subject) == ["two"])
        }
    }

    @Test("--events-rotate-bytes renames full files to PATH.<UTC timestamp>, never splitting a line", arguments: StorageEngine.allCases)
    func sizeRotation(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let rotateBytes = 2048
            let service = try await sandbox.startService(ServeConfiguration(rotateBytes: rotateBytes))
            let callbacks = service.callbacks()
            let total = 30
            // Mix single and multi-subscriber callbacks so that batches of several lines are written.
            var posted = 0
            var n = 0
            while posted < total {
                let count = min(1 + n % 3, total - posted)
                let subscribers = (0..<count).map { "rot-\(posted + $0)" }
                #expect(try await callbacks.subscribe(subscribers, eventTime: Self.t0 + Int64(n)).isOK)
                posted += count
                n += 1
            }

            func allFiles() throws -> [String] {
                let names = try FileManager.default.contentsOfDirectory(atPath: sandbox.directory.path)
                return names.filter { $0 == "events.jsonl" || $0.hasPrefix("events.jsonl.") }.sorted()
            }
            let complete = await waitUntil(timeout: .seconds(10)) {
                let files = (try? allFiles()) ?? []
                return EventFile.distinctIDs(files.map(sandbox.path)).count >= total
            }
            #expect(complete, "not every event was written")
            #expect(try await service.terminate() == .exited(0))

            let files = try allFiles()
            let rotatedNames = files.filter { $0 != "events.jsonl" }
            #expect(rotatedNames.count >= 3, "expected several rotations of \(total) events at \(rotateBytes) bytes, got files \(files)")
            for name in rotatedNames {
                let stamp = String(name.dropFirst("events.jsonl.".count))
                #expect(Self.isFileStamp(stamp), "rotated file name \(name) does not end in a UTC timestamp")
            }

            // Oldest rotated file first (the timestamp orders them), the live file last.
            let ordered = rotatedNames.sorted() + ["events.jsonl"]
            var all: [CloudEvent] = []
            for name in ordered {
                let contents = EventFile.read(sandbox.path(name))
                #expect(contents.endsWithNewline, "\(name) ends in a partial line: \(contents.trailing.prefix(80))")
                let events: [CloudEvent]
                do {
                    events = try contents.events()
                } catch {
                    Issue.record("\(name) has a line that is not an event (split line?): \(error)")
                    continue
                }
                if name != "events.jsonl" {
                    #expect(!events.isEmpty, "\(name) is empty")
                    #expect(contents.bytes.count <= rotateBytes, "\(name) has \(contents.bytes.count) bytes, over \(rotateBytes)")
                }
                let sequences = events.map(\.sequence)
                if let first = sequences.first {
                    #expect(sequences == Array(first...(first + Int64(sequences.count) - 1)), "\(name) is not contiguous: \(sequences)")
                }
                all += events
            }
            #expect(all.map(\.sequence) == oneThrough(total), "across files in rotation order: \(all.map(\.sequence))")
            #expect(Set(all.map(\.id)).count == total)
            #expect(Set(all.compactMap(\.subject)) == Set((0..<total).map { "rot-\($0)" }))
        }
    }

    /// `yyyyMMddTHHmmss.SSSZ` (UTC), optionally with a `-<n>` suffix (two rotations in one
    /// millisecond), for a time within a day of now.
    static func isFileStamp(_ stamp: String) -> Bool {
        let parts = stamp.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 && Int(parts[1]) == nil { return false }
        let base = Array(parts[0])
        let shape = Array("00000000T000000.000Z")
        guard base.count == shape.count else { return false }
        for (character, expected) in zip(base, shape) {
            if expected == "0" {
                guard character.isASCII, character.isNumber else { return false }
            } else if character != expected {
                return false
            }
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
        guard let date = formatter.date(from: String(base)) else { return false }
        return abs(date.timeIntervalSinceNow) < 86_400
    }

    @Test("a file ending in a partial line gets it terminated; the first new event starts on its own line", arguments: StorageEngine.allCases)
    func partialLineIsTerminated(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let path = sandbox.path("events.jsonl")
            let existing = #"{"old":"complete line"}"# + "\n" + #"{"partial"#
            #expect(FileManager.default.createFile(atPath: path, contents: Data(existing.utf8)))

            let service = try await sandbox.startService()
            #expect(try await service.callbacks().subscribe(["after-partial"], eventTime: Self.t0).isOK)
            #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(path).count == 1 })
            #expect(try await service.terminate() == .exited(0))

            let contents = EventFile.read(path)
            #expect(contents.endsWithNewline)
            #expect(contents.lines.count == 3, "lines: \(contents.lines)")
            #expect(contents.lines.first == #"{"old":"complete line"}"#, "the existing content was not preserved")
            #expect(contents.lines.dropFirst().first == #"{"partial"#, "the partial line was not terminated as is")
            let event = try contents.lines.last.map(CloudEvent.init(line:))
            #expect(event?.subject == "after-partial")
            #expect(event?.sequence == 1)
        }
    }

    @Test("--events stdout: events are the only thing on stdout, and are flushed on SIGTERM", arguments: StorageEngine.allCases)
    func eventsOnStdout(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let service = try await sandbox.startService(ServeConfiguration(events: "stdout"))
            let callbacks = service.callbacks()
            #expect(try await callbacks.subscribe(["out-1", "out-2"], eventTime: Self.t0).isOK)
            #expect(try await callbacks.unsubscribe(["out-1"], eventTime: Self.t0 + 1).isOK)
            #expect(try await service.terminate() == .exited(0))
            let contents = EventFile.read(service.stdoutPath)
            #expect(contents.endsWithNewline)
            let events = try contents.events()
            #expect(events.map { "\($0.sequence) \($0.kind) \($0.subject ?? "")" } == ["1 subscribed out-1", "2 subscribed out-2", "3 unsubscribed out-1"],
                    "stdout: \(contents.lines)")
            #expect(service.stderrText().contains("listening on"), "logs belong on stderr")
        }
    }
}
