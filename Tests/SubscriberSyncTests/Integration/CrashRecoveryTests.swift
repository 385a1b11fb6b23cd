import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SIGKILL under load, restart on the same database and events file: nothing acknowledged is lost,
/// and the event stream has no gap.
@Suite("Integration: crash recovery", .timeLimit(.minutes(10)))
struct IntegrationCrashRecoveryTests {
    @Test("SIGKILL under concurrent load loses no acknowledged callback and leaves a gapless event stream", arguments: StorageEngine.allCases)
    func killUnderLoad(engine: StorageEngine) async throws {
        try await HeavyTests.oneAtATime { try await withSandbox(engine: engine) { sandbox in
            let configuration = ServeConfiguration()
            let first = try await sandbox.startService(configuration, name: "before-crash")
            let recorder = LoadRecorder()

            try await withHTTPClient { client in
                let callbacks = first.callbacks(client: client)
                async let load: Void = CallbackLoad.run(callbacks: callbacks, clients: 16, prefix: "crash-", recorder: recorder)
                // Let the load run, then SIGKILL in the middle of it.
                let loaded = await waitUntil(timeout: .seconds(20)) { recorder.acknowledgedSubscribers.count >= 500 }
                #expect(loaded, "the load did not get going: \(recorder.acknowledgedSubscribers.count) acknowledged")
                let attemptsBeforeKill = recorder.attempts.load(ordering: .relaxed)
                await first.kill()
                #expect(first.exit == .signaled(SIGKILL))
                // The clients keep posting into the dead port until they have seen the crash.
                let sawCrash = await waitUntil(timeout: .seconds(10)) {
                    recorder.connectionErrors.load(ordering: .relaxed) > 0
                        && recorder.attempts.load(ordering: .relaxed) > attemptsBeforeKill
                }
                #expect(sawCrash, "no client saw the crash")
                recorder.stop()
                await load
                #expect(recorder.attempts.load(ordering: .relaxed) > attemptsBeforeKill, "the clients were not posting at the kill")
            }
            let acknowledged = recorder.acknowledgedSubscribers
            #expect(acknowledged.count >= 100, "too little load got through: \(acknowledged.count)")
            #expect(recorder.connectionErrors.load(ordering: .relaxed) > 0, "no client saw the crash")
            #expect(recorder.refusals.load(ordering: .relaxed) == 0, "some callbacks were refused under load")

            // Restart on the same database and events file.
            let second = try await sandbox.startService(configuration, name: "after-crash")
            let export = try await sandbox.export()
            #expect(export.exit == .exited(0), "export: \(export.stderr)")
            let exported = Set(try export.records().compactMap(\.subscriber))

            // Every acknowledged subscriber is in the store.
            let missingFromStore = Set(acknowledged).subtracting(exported)
            #expect(missingFromStore.isEmpty, "\(missingFromStore.count) acknowledged subscribers are not in export: \(missingFromStore.sorted().prefix(10))")

            // Wait until the restarted emitter has written out everything the store holds.
            let caughtUp = await waitUntil(timeout: .seconds(20), interval: .milliseconds(100)) {
                Set(EventFile.events(second.eventsPath).filter(\.isSubscribed).compactMap(\.subject)).isSuperset(of: exported)
            }
            #expect(caughtUp, "the restarted service did not emit every stored subscription")
            // The lines are in the file before the emitter's checkpoint commits, and until then
            // the oldest pending event (older than 10 s after the kill) keeps /readyz at 503.
            var ready = "no answer"
            #expect(await waitUntil(timeout: .seconds(15)) {
                guard let reply = try? await second.callbacks().get("/readyz") else { return false }
                ready = "\(reply.status) \(reply.body)"
                return reply.status == 200
            }, "readyz after catching up: \(ready)")
            #expect(try await second.terminate() == .exited(0))

            // The file: every line JSON, except at most one partial line from the crash, terminated
            // (so never the last line).
            let contents = EventFile.read(second.eventsPath)
            #expect(contents.endsWithNewline, "the events file ends in a partial line: \(contents.trailing)")
            var events: [CloudEvent] = []
            var unparsable: [(index: Int, line: String)] = []
            for (index, line) in contents.lines.enumerated() {
                if let event = try? CloudEvent(line: line) { events.append(event) } else { unparsable.append((index, line)) }
            }
            #expect(unparsable.count <= 1, "more than one line does not parse: \(unparsable.map { "\($0.index): \($0.line.prefix(80))" })")
            for bad in unparsable {
                #expect(bad.index != contents.lines.count - 1, "the unparsable line is the last line")
            }

            // After dropping repeated ids: sequence exactly 1...N, and repeats are byte-identical.
            let (unique, repeats, mismatched) = EventFile.deduplicated(events)
            #expect(mismatched.isEmpty, "re-emitted events differ from their first emission: \(mismatched.prefix(5))")
            let sequences = unique.map(\.sequence).sorted()
            #expect(sequences == oneThrough(unique.count),
                    "sequences are not 1...\(unique.count): first anomalies \(Self.anomalies(sequences))")
            #expect(Set(unique.map(\.sequence)).count == unique.count, "one sequence carries two different ids")

            // Every acknowledged subscriber has its event; the stream and the store agree.
            let subscribedSubjects = Set(unique.filter(\.isSubscribed).compactMap(\.subject))
            let missingEvents = Set(acknowledged).subtracting(subscribedSubjects)
            #expect(missingEvents.isEmpty, "\(missingEvents.count) acknowledged subscribers have no event: \(missingEvents.sorted().prefix(10))")
            #expect(subscribedSubjects == exported, "events and export disagree: only in events \(subscribedSubjects.subtracting(exported).count), only in export \(exported.subtracting(subscribedSubjects).count)")
            #expect(unique.count == exported.count, "\(unique.count) distinct events for \(exported.count) subscriptions")
            print("crash test: \(acknowledged.count) acknowledged, \(exported.count) stored, \(unique.count) distinct events, \(repeats) re-emitted, \(unparsable.count) partial lines")
        } }
    }

    static func anomalies(_ sorted: [Int64]) -> [String] {
        var result: [String] = []
        var expected: Int64 = 1
        for value in sorted {
            if value != expected { result.append("expected \(expected) got \(value)") }
            expected = value + 1
            if result.count >= 5 { break }
        }
        return result
    }
}
