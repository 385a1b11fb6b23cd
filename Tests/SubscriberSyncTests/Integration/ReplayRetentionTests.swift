import Foundation
import Testing
import SubscriberSync

/// `replay` and `--outbox-retention` on the real executable (issue 13's replay and retention).
@Suite("Integration: replay and outbox retention", .timeLimit(.minutes(3)))
struct IntegrationReplayRetentionTests {
    static func replay(_ sandbox: Sandbox, _ arguments: [String] = []) async throws -> ReconcileRun {
        try await sandbox.storeCommand("replay", arguments)
    }

    @Test("replay writes the emitter's lines byte for byte, whole or in a range, beside a running serve",
          arguments: StorageEngine.allCases)
    func replayIsByteIdentical(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let service = try await sandbox.startService()
            let client = service.callbacks()
            #expect(try await client.subscribe(["a", "b", "c"], eventTime: IntegrationDefaults.baseEventTime).status == 200)
            #expect(try await client.unsubscribe(["b"], eventTime: IntegrationDefaults.baseEventTime + 1).status == 200)
            #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(service.eventsPath).count == 4 })
            let written = EventFile.read(service.eventsPath)

            let all = try await Self.replay(sandbox)
            #expect(all.status == 0, "\(all.stderr)")
            #expect(Array(all.stdout.utf8) == written.bytes, "every byte, ids, sequences and recordedtime included")
            let range = try await Self.replay(sandbox, ["--from", "2", "--to", "3"])
            #expect(range.stdout == written.lines[1...2].map { $0 + "\n" }.joined())
            let file = sandbox.path("replayed.jsonl")
            #expect(try await Self.replay(sandbox, ["--from", "4", "--events", file]).status == 0)
            #expect(EventFile.read(file).lines == [written.lines[3]])
            #expect(try await Self.replay(sandbox, ["--from", "0"]).status != 0, "a bad range is refused")
        }
    }

    @Test("retention deletes only emitted events, replay below the floor exits 3, and the stream stays contiguous",
          arguments: StorageEngine.allCases)
    func retentionKeepsTheStreamContiguous(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let service = try await sandbox.startService(ServeConfiguration(extraArguments: ["--outbox-retention", "1s"]))
            let client = service.callbacks()
            #expect(try await client.subscribe(["a", "b", "c", "d"], eventTime: IntegrationDefaults.baseEventTime).status == 200)
            #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(service.eventsPath).count == 4 })

            // Emitted and older than a second: all but the newest go.
            var floor = ""
            #expect(await waitUntil(timeout: .seconds(30), interval: .milliseconds(500)) {
                let below = try? await Self.replay(sandbox, ["--from", "1"])
                floor = below?.stderr ?? ""
                return below?.status == 3
            }, "\(service.stderrText())")
            #expect(floor.contains("oldest retained event is 4"), "\(floor)")
            #expect(floor.contains("export") && floor.contains("read API"), "says to take a snapshot: \(floor)")
            let kept = try await Self.replay(sandbox)
            #expect(kept.status == 0)
            #expect(kept.stdout == EventFile.read(service.eventsPath).lines[3] + "\n", "the newest stays, byte for byte")
            let metrics = try await client.get("/metrics")
            #expect(metrics.body.contains("subscriber_sync_outbox_oldest_sequence 4"), "\(metrics.body)")

            // Numbers go on; the emitted stream has every number once.
            #expect(try await client.subscribe(["e", "f"], eventTime: IntegrationDefaults.baseEventTime + 1).status == 200)
            #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(service.eventsPath).count == 6 })
            #expect(EventFile.events(service.eventsPath).map(\.sequence) == Array(1...6))
            // What replay still has is the file's tail, byte for byte (retention may have moved on).
            let tail = try await Self.replay(sandbox)
            let first = try #require(tail.stdout.split(separator: "\n").first.map { try CloudEvent(line: String($0)).sequence })
            #expect(tail.stdout == EventFile.read(service.eventsPath).lines[Int(first - 1)...].map { $0 + "\n" }.joined())
        }
    }
}
