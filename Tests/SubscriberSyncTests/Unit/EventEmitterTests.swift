import Foundation
import Logging
import Testing
@testable import SubscriberSync

/// The emitter over a real store of every engine, with an in-memory sink.
@Suite struct EventEmitterTests {
    func emitter(_ storage: any SubscriberStorage, _ sink: MemoryEventSink, holder: String = "test") -> EventEmitter {
        EventEmitter(store: storage, sink: { sink }, holder: holder, logger: Logger(label: "test"), batchSize: 7)
    }

    func sequences(_ sink: MemoryEventSink) throws -> [String] {
        try sink.lines.map { line in
            let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try #require(json["sequence"] as? String)
        }
    }

    @Test(arguments: StorageEngine.allCases)
    func writesInOrderAndAdvancesTheCheckpoint(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe("@TOA#_a", (0..<20).map { "u\($0)" }, at: 1_000)
        let sink = MemoryEventSink()
        let emitter = emitter(store.storage, sink)
        #expect(try await emitter.emitPendingIfFree())
        #expect(try sequences(sink) == (1...20).map { String(format: "%020d", $0) })
        #expect(try await store.storage.emitterProgress().checkpoint == 20)
        #expect(!emitter.isHoldingLease, "a one-shot run releases the lease")
        #expect(sink.lines == (try await store.events().map(\.line)), "the stored lines, byte for byte")
    }

    @Test(arguments: StorageEngine.allCases)
    func waitsWhileAnotherProcessHoldsTheLease(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe("@TOA#_a", ["u"], at: 1_000)
        _ = try #require(try await store.storage.acquireEmitterLease(holder: "serve", durationMilliseconds: 60_000))
        let sink = MemoryEventSink()
        #expect(try await !emitter(store.storage, sink).emitPendingIfFree())
        #expect(sink.lines.isEmpty)
        #expect(try await store.storage.emitterProgress().checkpoint == 0)
    }

    @Test(arguments: StorageEngine.allCases)
    func aFailedWriteLeavesTheCheckpointSoEventsAreReEmittedWithTheSameIds(engine: StorageEngine) async throws {
        let store = try await engine.makeStore()
        try await store.subscribe("@TOA#_a", ["a", "b", "c"], at: 1_000)
        let sink = MemoryEventSink()
        sink.failWrites(true)
        let emitter = emitter(store.storage, sink)
        let failure = await #expect(throws: EventEmitter.OutputFailure.self) { try await emitter.emitPendingIfFree() }
        #expect(failure?.underlying is EventSinkError, "the output's own error, told apart from the store's")
        #expect(try await store.storage.emitterProgress().checkpoint == 0)
        sink.failWrites(false)
        // The failed run still holds its (unexpired) lease; the same holder takes it again.
        #expect(try await emitter.emitPendingIfFree())
        #expect(sink.lines == (try await store.events().map(\.line)))
    }
}
