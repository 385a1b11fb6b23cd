import Foundation
import Testing

/// One emitter per database: a second `serve` on the same database takes callbacks but leaves the
/// emitting to the lease holder, and takes over when the holder dies.
@Suite("Integration: emitter lease", .timeLimit(.minutes(5)))
struct IntegrationEmitterLeaseTests {
    static let t0 = IntegrationDefaults.baseEventTime

    @Test("the lease holder emits for every process on the database; a crashed holder is replaced within 10 s", arguments: StorageEngine.allCases)
    func leaseTakeover(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let a = try await sandbox.startService(ServeConfiguration(events: "events-a.jsonl"), name: "a")
            // A proves it holds the lease by emitting its own callback.
            #expect(try await a.callbacks().subscribe(["from-a"], eventTime: Self.t0).isOK)
            #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(a.eventsPath).count == 1 },
                    "A did not emit its own callback")

            let b = try await sandbox.startService(ServeConfiguration(events: "events-b.jsonl"), name: "b")
            let callbacksB = b.callbacks()
            for (index, subscriber) in ["b1", "b2", "b3"].enumerated() {
                let reply = try await callbacksB.subscribe([subscriber], eventTime: Self.t0 + 10 + Int64(index))
                #expect(reply.isOK, "B did not acknowledge \(subscriber): \(reply)")
            }
            // They come out of A, the holder, and not out of B.
            let viaA = await waitUntil(timeout: .seconds(20)) {
                Set(EventFile.events(a.eventsPath).compactMap(\.subject)).isSuperset(of: ["b1", "b2", "b3"])
            }
            #expect(viaA, "B's callbacks did not appear in A's events file: \(EventFile.events(a.eventsPath))")
            // B's emitter has run and found the lease taken (it logs that once) before we look.
            #expect(await b.waitForStderr(containing: "another process holds the event emitter lease", timeout: .seconds(10)),
                    "B never found the lease held: \(b.stderrText())")
            #expect(EventFile.read(b.eventsPath).bytes.isEmpty, "B emitted without the lease: \(EventFile.read(b.eventsPath).lines)")

            // The holder dies; B must take over.
            await a.kill()
            let killedAt = ContinuousClock.now
            for (index, subscriber) in ["c1", "c2", "c3"].enumerated() {
                let reply = try await callbacksB.subscribe([subscriber], eventTime: Self.t0 + 20 + Int64(index))
                #expect(reply.isOK, "B did not acknowledge \(subscriber): \(reply)")
            }
            let tookOver = await waitUntil(timeout: .seconds(13), interval: .milliseconds(100)) {
                Set(EventFile.events(b.eventsPath).compactMap(\.subject)).isSuperset(of: ["c1", "c2", "c3"])
            }
            let elapsed = ContinuousClock.now - killedAt
            #expect(tookOver, "B did not emit the new events within 10 s (+3 s margin) of A's death")
            #expect(elapsed < .seconds(10) + .milliseconds(500), "takeover took \(elapsed)")

            #expect(try await b.terminate() == .exited(0))

            // A never saw the new events; across both files the stream is gapless and
            // duplicates (re-emission after A's checkpoint) are byte-identical.
            let eventsA = try EventFile.read(a.eventsPath).events()
            let eventsB = try EventFile.read(b.eventsPath).events()
            #expect(Set(eventsA.compactMap(\.subject)).isDisjoint(with: ["c1", "c2", "c3"]))
            let (unique, _, mismatched) = EventFile.deduplicated(eventsA + eventsB)
            #expect(mismatched.isEmpty)
            #expect(unique.map(\.sequence).sorted() == oneThrough(7), "events: \(unique)")
            #expect(unique.sorted { $0.sequence < $1.sequence }.compactMap(\.subject) == ["from-a", "b1", "b2", "b3", "c1", "c2", "c3"])
            // B's file starts at or after A's checkpoint and is contiguous from there.
            let sequencesB = eventsB.map(\.sequence)
            if let firstB = sequencesB.first {
                #expect(sequencesB == Array(firstB...7), "B's file: \(sequencesB)")
            }
        }
    }
}
