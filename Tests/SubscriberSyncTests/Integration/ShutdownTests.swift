import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM/SIGINT: stop accepting, finish in-flight callbacks, flush every event, exit 0.
@Suite("Integration: graceful shutdown", .timeLimit(.minutes(10)))
struct IntegrationShutdownTests {
    static let t0 = IntegrationDefaults.baseEventTime

    /// Posts `count` single-subscriber callbacks, `concurrency` at a time; returns the acknowledged.
    static func postBurst(_ callbacks: CallbackClient, prefix: String, count: Int, concurrency: Int = 8) async throws -> [String] {
        try await withThrowingTaskGroup(of: String?.self) { group in
            var acknowledged: [String] = []
            var next = 0
            func add() {
                let index = next
                next += 1
                group.addTask {
                    let subscriber = "\(prefix)\(index)"
                    let reply = try await callbacks.subscribe([subscriber], eventTime: Self.t0 + Int64(index))
                    return reply.isOK ? subscriber : nil
                }
            }
            while next < min(concurrency, count) { add() }
            while let result = try await group.next() {
                if let result { acknowledged.append(result) }
                if next < count { add() }
            }
            return acknowledged
        }
    }

    @Test("SIGTERM right after acknowledgements: exit 0 and every event is in the file", arguments: [SIGTERM, SIGINT])
    func signalFlushesAcknowledged(signal: Int32) async throws {
        try await withSandbox { sandbox in
            let service = try await sandbox.startService()
            let acknowledged = try await Self.postBurst(service.callbacks(), prefix: "term-", count: 60)
            #expect(acknowledged.count == 60)
            // No waiting for the emitter: the signal goes out right after the last acknowledgement.
            await service.send(signal: signal)
            let exit = await service.waitForExit(timeout: .seconds(20))
            #expect(exit == .exited(0), "after signal \(signal): \(service.exitDescription())\n\(service.stderrText())")

            let contents = EventFile.read(service.eventsPath)
            #expect(contents.endsWithNewline)
            let events = try contents.events()
            #expect(events.map(\.sequence) == oneThrough(events.count))
            #expect(Set(events.map(\.id)).count == events.count)
            #expect(Set(events.filter(\.isSubscribed).compactMap(\.subject)) == Set(acknowledged),
                    "\(events.count) events for \(acknowledged.count) acknowledged callbacks")
        }
    }

    @Test("SIGTERM under concurrent load: every acknowledged callback is stored and emitted, exit 0", arguments: StorageEngine.allCases)
    func terminateUnderLoad(engine: StorageEngine) async throws {
        try await HeavyTests.oneAtATime { try await withSandbox(engine: engine) { sandbox in
            let service = try await sandbox.startService()
            let recorder = LoadRecorder()
            var exit: ProcessExit?
            try await withHTTPClient { client in
                async let load: Void = CallbackLoad.run(callbacks: service.callbacks(client: client), clients: 8,
                                                        prefix: "load-", recorder: recorder)
                // Under load: the clients loop, so requests are in flight whenever the signal lands.
                let loaded = await waitUntil(timeout: .seconds(15)) { recorder.acknowledgedSubscribers.count >= 200 }
                #expect(loaded, "the load did not get going: \(recorder.acknowledgedSubscribers.count) acknowledged")
                await service.send(signal: SIGTERM)
                exit = await service.waitForExit(timeout: .seconds(20))
                recorder.stop()
                await load
            }
            #expect(exit == .exited(0), "after SIGTERM under load: \(service.exitDescription())\n\(service.stderrText())")
            #expect(recorder.refusals.load(ordering: .relaxed) == 0)
            let acknowledged = Set(recorder.acknowledgedSubscribers)
            #expect(acknowledged.count >= 100)

            let exported = Set(try await sandbox.export().records().compactMap(\.subscriber))
            #expect(acknowledged.isSubset(of: exported), "acknowledged but not stored: \(acknowledged.subtracting(exported).sorted().prefix(10))")

            let contents = EventFile.read(service.eventsPath)
            #expect(contents.endsWithNewline)
            let events = try contents.events()
            #expect(events.map(\.sequence) == oneThrough(events.count))
            let subjects = Set(events.filter(\.isSubscribed).compactMap(\.subject))
            #expect(subjects == exported, "stored but not emitted before exit: \(exported.subtracting(subjects).sorted().prefix(10))")
        } }
    }

    @Test("a callback in flight when SIGTERM arrives is finished, acknowledged, stored and emitted; new connections are refused", arguments: StorageEngine.allCases)
    func inFlightCallbackFinishes(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let service = try await sandbox.startService()
            let callbacks = service.callbacks()
            // Warm up (and prove the service works) before the interesting request.
            #expect(try await callbacks.subscribe(["warm-up"], eventTime: Self.t0).isOK)

            let body = CallbackBodies.subscribers(command: IntegrationDefaults.addCommand, account: IntegrationDefaults.account,
                                                  operatorAccount: nil, subscribers: ["in-flight"], eventTime: Self.t0 + 1)
            let half = body.count / 2
            // A plain socket, so that the test knows what has been written and can ask the kernel
            // whether the service has read it.
            let connection = try RawHTTPConnection(port: service.port)
            let path = "/tencent/callback?" + CallbackClient.encode(callbacks.signedQuery(command: IntegrationDefaults.addCommand))
            try await connection.send(RawHTTPConnection.postHead(path: path, contentLength: body.count) + body[..<half])
            // The head and half the body are read by the service, then it is asked to stop.
            let read = await waitUntil(timeout: .seconds(10)) {
                LoopbackTCP.serverHasRead(clientPort: connection.localPort, serverPort: service.port)
            }
            #expect(read, "the service did not read the request head: \(LoopbackTCP.sockets().filter { $0.localPort == service.port || $0.remotePort == service.port })")
            #expect(LoopbackTCP.isListening(port: service.port), "the listener is not visible in /proc/net/tcp")
            await service.send(signal: SIGTERM)
            let stoppedListening = await waitUntil(timeout: .seconds(10)) { !LoopbackTCP.isListening(port: service.port) }
            #expect(stoppedListening, "the service still listens after SIGTERM")
            #expect(service.isRunning, "the service exited with a callback in flight: \(service.exitDescription())")

            // A new connection now must not be served.
            try await withHTTPClient { fresh in
                let late = try? await service.callbacks(client: fresh).subscribe(["too-late"], eventTime: Self.t0 + 2, timeout: .seconds(3))
                #expect(late?.isOK != true, "a callback on a new connection was accepted after SIGTERM: \(late.map(\.description) ?? "")")
            }

            try await connection.send(body[half...])
            let answer = try await connection.readReply()
            #expect(answer.isOK, "the in-flight callback was not acknowledged: \(answer)")
            let exit = await service.waitForExit(timeout: .seconds(20))
            #expect(exit == .exited(0), "\(service.exitDescription())\n\(service.stderrText())")

            let exported = try await sandbox.export().records().compactMap(\.subscriber)
            #expect(exported.sorted() == ["in-flight", "warm-up"])
            let events = try EventFile.read(service.eventsPath).events()
            #expect(events.compactMap(\.subject) == ["warm-up", "in-flight"])
        }
    }
}
