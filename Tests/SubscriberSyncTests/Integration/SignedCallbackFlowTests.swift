import Foundation
import Testing

/// Signed callbacks in, through the service in-process (real HTTP on loopback, the real store and
/// events file); the `export` command and the events file out.
@Suite("Integration: signed callbacks to export and events", .timeLimit(.minutes(5)))
struct IntegrationSignedCallbackTests {
    static let account = IntegrationDefaults.account
    static let t0 = IntegrationDefaults.baseEventTime

    @Test("subscribe, unsubscribe, stale resubscribe, duplicate, ties: exact export and exact events", arguments: StorageEngine.allCases)
    func lastWriterWinsThroughTheProcess(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let t0 = Self.t0
            let expected: [(String, String)] = [
                ("subscribed", "alice"), ("subscribed", "bob"), ("unsubscribed", "bob"),
                ("subscribed", "dave"), ("unsubscribed", "dave"),
            ]
            let eventsPath = try await sandbox.inProcessService { service in
                let callbacks = service.callbacks()

                // alice and bob subscribe in one callback.
                let r1 = try await callbacks.subscribe(["alice", "bob"], eventTime: t0 + 1_000)
                // bob unsubscribes later.
                let r2 = try await callbacks.unsubscribe(["bob"], eventTime: t0 + 2_000)
                // A subscribe of bob older than his unsubscribe arrives late: must not resurrect him.
                let r3 = try await callbacks.subscribe(["bob"], eventTime: t0 + 1_500)
                // Tencent retries the first callback: a duplicate.
                let r4 = try await callbacks.subscribe(["alice", "bob"], eventTime: t0 + 1_000)
                // Tie, subscribe first: dave subscribes and unsubscribes at the same millisecond.
                let r5 = try await callbacks.subscribe(["dave"], eventTime: t0 + 3_000)
                let r6 = try await callbacks.unsubscribe(["dave"], eventTime: t0 + 3_000)
                // Tie, unsubscribe first: erin was never seen subscribed; the subscribe at the same
                // millisecond arrives after the unsubscribe and must lose.
                let r7 = try await callbacks.unsubscribe(["erin"], eventTime: t0 + 4_000)
                let r8 = try await callbacks.subscribe(["erin"], eventTime: t0 + 4_000)
                for (index, reply) in [r1, r2, r3, r4, r5, r6, r7, r8].enumerated() {
                    #expect(reply.isOK, "callback \(index + 1) was not acknowledged: \(reply)")
                    #expect(reply.body == #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#)
                }

                // export, while the service runs.
                let export = try await sandbox.export()
                #expect(export.exit == .exited(0), "export: \(export.stderr)")
                let records = try export.records()
                #expect(records == [ExportRecord(officialAccount: Self.account, subscriber: "alice", since: t0 + 1_000)],
                        "export was:\n\(export.stdout)")

                // The events: wait until the expected count is out, then stop gracefully and read all.
                let emitted = await waitUntil(timeout: .seconds(10)) { EventFile.events(service.eventsPath).count >= expected.count }
                #expect(emitted, "events so far: \(EventFile.events(service.eventsPath))")
                return service.eventsPath
            }

            let contents = EventFile.read(eventsPath)
            #expect(contents.endsWithNewline)
            let events = try contents.events()
            #expect(events.map { "\($0.kind) \($0.subject ?? "nil")" } == expected.map { "\($0.0) \($0.1)" },
                    "events were:\n\(contents.lines.joined(separator: "\n"))")
            #expect(events.map(\.sequence) == oneThrough(events.count))
            #expect(Set(events.map(\.id)).count == events.count, "ids are not unique")
            for event in events {
                #expect(event.specversion == "1.0")
                #expect(event.dataAccount == Self.account, "\(event.line)")
                #expect(event.dataSubscriber == event.subject, "\(event.line)")
                #expect(event.dataOrigin == "webhook", "\(event.line)")
                #expect(event.type.hasPrefix("io.subscriber-sync."), "\(event.line)")
            }
        }
    }

    @Test("an Official Account destroyed unsubscribes everyone and voids older callbacks", arguments: StorageEngine.allCases)
    func accountDestroyed(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let t0 = Self.t0
            let other = "@TOA#_other"
            let eventsPath = try await sandbox.inProcessService { service in
                let callbacks = service.callbacks()

                #expect(try await callbacks.subscribe(["alice", "bob"], eventTime: t0 + 1_000).isOK)
                #expect(try await callbacks.subscribe(account: other, ["zoe"], eventTime: t0 + 1_000).isOK)
                #expect(try await callbacks.destroyAccount(eventTime: t0 + 5_000).isOK)
                // Older than the destruction: ignored.
                #expect(try await callbacks.subscribe(["carol"], eventTime: t0 + 4_000).isOK)
                // After it (the ID re-created and subscribed again): applies.
                #expect(try await callbacks.subscribe(["alice"], eventTime: t0 + 6_000).isOK)

                let records = try await sandbox.export().records()
                #expect(records == [
                    ExportRecord(officialAccount: Self.account, subscriber: "alice", since: t0 + 6_000),
                    ExportRecord(officialAccount: other, subscriber: "zoe", since: t0 + 1_000),
                ].sorted { ($0.officialAccount!, $0.subscriber!) < ($1.officialAccount!, $1.subscriber!) },
                        "export was: \(records)")

                #expect(await waitUntil(timeout: .seconds(10)) { EventFile.events(service.eventsPath).count >= 6 })
                return service.eventsPath
            }
            let events = try EventFile.read(eventsPath).events()
            let summary = events.map { "\($0.kind) \($0.subject ?? "nil") \($0.dataOrigin ?? "nil")" }
            #expect(summary == [
                "subscribed alice webhook", "subscribed bob webhook", "subscribed zoe webhook",
                "unsubscribed alice account_destroyed", "unsubscribed bob account_destroyed",
                "subscribed alice webhook",
            ], "events: \(events)")
            #expect(events.map(\.sequence) == oneThrough(events.count))
        }
    }

    /// Identifiers the parser accepts (1 to 256 bytes without control characters) that JSON, SQLite and the
    /// event/export writers must carry through unchanged.
    static let trickyIdentifiers: [String] = [
        #"quote"in"side"#,
        #"back\slash"#,
        "unicode-\u{00E9}\u{4E2D}\u{6587}-\u{1F600}",
        "line\u{2028}separator",
        "slash/and%percent&amp=eq?q#hash",
        "  spaces  ",
        String(repeating: "x", count: 256),
        String(repeating: "\u{00E9}", count: 128),  // 256 bytes of two-byte characters
    ]

    @Test("identifiers with quotes, backslashes and non-ASCII characters round-trip exactly", arguments: StorageEngine.allCases)
    func trickyIdentifiersRoundTrip(engine: StorageEngine) async throws {
        try await withSandbox(engine: engine) { sandbox in
            let account = "@TOA#_odd\"account\\"
            let subscribers = Self.trickyIdentifiers
            let eventsPath = try await sandbox.inProcessService { service in
                let callbacks = service.callbacks()
                // The same subscriber twice in one list counts once.
                let reply = try await callbacks.subscribe(account: account, subscribers + [subscribers[0]], eventTime: Self.t0)
                #expect(reply.isOK, "\(reply)")

                let records = try await sandbox.export().records()
                #expect(records.compactMap(\.officialAccount).allSatisfy { $0 == account })
                #expect(records.compactMap(\.subscriber).sorted() == subscribers.sorted(),
                        "exported subscribers: \(records.compactMap(\.subscriber).map { $0.debugDescription })")
                let filtered = try await sandbox.export(account: account).records()
                #expect(filtered.count == subscribers.count)

                #expect(await waitUntil(timeout: .seconds(10)) { EventFile.events(service.eventsPath).count >= subscribers.count })
                return service.eventsPath
            }
            let contents = EventFile.read(eventsPath)
            #expect(contents.lines.count == subscribers.count, "one line per event, whatever the identifier holds")
            let events = try contents.events()
            #expect(events.compactMap(\.subject) == subscribers, "subjects: \(events.compactMap(\.subject).map { $0.debugDescription })")
            #expect(events.compactMap(\.dataSubscriber) == subscribers)
            #expect(events.allSatisfy { $0.dataAccount == account })
            #expect(events.allSatisfy { $0.source == "tencent-chat://\(IntegrationDefaults.sdkAppID)/official-accounts/%40TOA%23_odd%22account%5C" },
                    "sources: \(Set(events.compactMap(\.source)))")
        }
    }

    @Test("an identifier containing a control character is either refused or stored and emitted exactly",
          arguments: [["nul\u{0}one", "nul\u{0}two"], ["control\u{01}\u{1F}chars"], ["new\nline", "tab\tand\rreturn"]])
    func controlCharactersInIdentifiers(_ subscribers: [String]) async throws {
        try await withSandbox { sandbox in
            let (reply, eventsPath) = try await sandbox.inProcessService { service in
                let reply = try await service.callbacks().subscribe(subscribers, eventTime: Self.t0)
                if reply.isOK {
                    #expect(await waitUntil(timeout: .seconds(20)) { EventFile.events(service.eventsPath).count >= 2 })
                }
                return (reply, service.eventsPath)
            }
            if reply.isOK {
                let records = try await sandbox.export().records()
                #expect(records.compactMap(\.subscriber) == subscribers,
                        "acknowledged, but exported as \(records.compactMap(\.subscriber).map { $0.debugDescription })")
                let events = try EventFile.read(eventsPath).events()
                #expect(events.compactMap(\.subject) == subscribers,
                        "acknowledged, but emitted with subjects \(events.compactMap(\.subject).map { $0.debugDescription })")
                #expect(events.compactMap(\.dataSubscriber) == subscribers)
            } else {
                #expect(reply.status == 400 && reply.isWellFormedRefusal, "\(reply)")
                #expect(try await sandbox.export().stdout.isEmpty)
            }
        }
    }
}
