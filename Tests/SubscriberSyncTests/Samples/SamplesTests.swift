// The files in samples/ are what users copy: each JSON/YAML file must parse, the config and
// environment samples must name every setting and be accepted by the real executable's
// `serve --check-config`, and every callback payload, posted with samples/post-callback.sh, must be
// accepted by a running service. (scripts/check-samples lints the rest: systemd unit, logrotate
// snippet, Dockerfile, shell scripts, Prometheus rules.)

import Foundation
import SubscriberSync
import Testing
import Yams

@Suite("Samples", .timeLimit(.minutes(5)))
struct SamplesTests {
    // MARK: - Locating and reading the samples

    /// The repository root: this file is Tests/SubscriberSyncTests/Samples/SamplesTests.swift.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let samples = root.appendingPathComponent("samples")
    static let configSample = samples.appendingPathComponent("subscriber-sync.yaml")
    static let environmentSample = samples.appendingPathComponent("subscriber-sync.env")
    static let callbacks = samples.appendingPathComponent("callbacks")
    static let postScript = samples.appendingPathComponent("post-callback.sh")

    /// Every Official Account callback command Tencent documents.
    static let officialAccountCommands: Set<String> = [
        "OfficialAccount.CallbackBeforeAddSubscriber", "OfficialAccount.CallbackAfterAddSubscriber",
        "OfficialAccount.CallbackAfterDeleteSubscriber", "OfficialAccount.CallbackAfterOfficialAccountFull",
        "OfficialAccount.CallbackBeforeCreateOfficialAccount", "OfficialAccount.CallbackAfterCreateOfficialAccount",
        "OfficialAccount.CallbackAfterOfficialAccountInfoChanged", "OfficialAccount.CallbackAfterOfficialAccountDestroyed",
        "OfficialAccount.CallbackBeforeSendMsg", "OfficialAccount.CallbackAfterSendMsg",
        "OfficialAccount.CallbackAfterMsgWithDraw",
    ]

    /// Files under samples/ whose names end in one of `extensions`, sorted.
    static func sampleFiles(_ extensions: Set<String>, under directory: URL = samples) -> [URL] {
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }
            .filter { extensions.contains($0.pathExtension) }
            .sorted { $0.path < $1.path }
    }

    static func text(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }

    static func relative(_ url: URL) -> String {
        url.path.hasPrefix(root.path + "/") ? String(url.path.dropFirst(root.path.count + 1)) : url.path
    }

    static func jsonObject(_ url: URL) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: try Data(contentsOf: url))
        guard let object = value as? [String: Any] else { throw IntegrationError("\(relative(url)) is not a JSON object") }
        return object
    }

    /// Parses YAML with Yams (swift-configuration's YAML parser); throws with the parser's message
    /// when the YAML is invalid or its top level is not a mapping.
    static func parseYAML(_ url: URL) throws {
        let value = try Yams.load(yaml: try text(url))
        guard value is [String: Any] else { throw IntegrationError("\(relative(url)): the top level is not a mapping") }
    }

    static func onPath(_ tool: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
    }

    static let canPost = ["bash", "curl", "sha256sum"].allSatisfy(onPath)

    // MARK: - Running tools

    enum Tool {
        /// Runs `executable` (a path or a name on PATH) from the repository root to its end.
        static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                        timeout: Duration = .seconds(30)) async throws -> ChildProcess.Result {
            try await ChildProcess.run(executable, arguments, environment: environment ?? SubscriberSyncExecutable.environment(),
                                       workingDirectory: SamplesTests.root, timeout: timeout)
        }

        /// `subscriber-sync serve --check-config` with `arguments`.
        static func checkConfig(_ arguments: [String], environment: [String: String]? = nil) async throws -> ChildProcess.Result {
            try await SubscriberSyncExecutable.run(["serve", "--check-config"] + arguments,
                                                   environment: environment ?? SubscriberSyncExecutable.environment(),
                                                   workingDirectory: SamplesTests.root, timeout: .seconds(30))
        }
    }

    /// A scratch directory for one test, removed afterwards.
    static func withScratch<T>(_ body: (URL) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("samples-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await body(directory)
    }

    static func writeSecret(_ name: String, in directory: URL) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try Data("sample-\(name)-value\n".utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    // MARK: - JSON and YAML

    @Test("every samples/**/*.json parses as a JSON object")
    func jsonSamplesParse() throws {
        let files = Self.sampleFiles(["json"])
        #expect(files.count >= 12, "expected the callback payloads under samples/callbacks")
        for file in files {
            #expect(throws: Never.self, "\(Self.relative(file))") { _ = try Self.jsonObject(file) }
        }
    }

    @Test("every samples/**/*.yaml and *.yml parses as a YAML mapping")
    func yamlSamplesParse() throws {
        let files = Self.sampleFiles(["yaml", "yml"])
        #expect(files.count >= 6, "config, Vector, Fluent Bit, Filebeat, alert rules and their tests")
        for file in files {
            #expect(throws: Never.self, "\(Self.relative(file)) does not parse") { try Self.parseYAML(file) }
        }
    }

    // MARK: - Callback payloads

    @Test("samples/callbacks holds every Official Account command, and one other")
    func callbackPayloadsCoverEveryCommand() throws {
        var commands: [String: String] = [:]
        for file in Self.sampleFiles(["json"], under: Self.callbacks) {
            let object = try Self.jsonObject(file)
            let command = try #require(object["CallbackCommand"] as? String, "\(Self.relative(file)) has no CallbackCommand")
            #expect(commands[command] == nil, "\(command) appears twice")
            commands[command] = Self.relative(file)
            if command.hasPrefix("OfficialAccount.") {
                let eventTime = object["EventTime"] as? NSNumber
                #expect((eventTime?.int64Value ?? 0) > 1_000_000_000_000, "\(Self.relative(file)): EventTime in ms")
            }
        }
        #expect(Set(commands.keys.filter { $0.hasPrefix("OfficialAccount.") }) == Self.officialAccountCommands)
        #expect(commands.keys.contains { !$0.hasPrefix("OfficialAccount.") }, "one command the service only counts")
    }

    // MARK: - Config and environment samples

    @Test("the config sample names every setting; the environment sample every variable and no unknown one")
    func samplesNameEverySetting() throws {
        let config = try Self.text(Self.configSample)
        for key in ServiceSettings.Key.allCases {
            let pattern = "(?m)^#?\(key.rawValue):"
            #expect(config.range(of: pattern, options: .regularExpression) != nil,
                    "samples/subscriber-sync.yaml lacks \(key.rawValue) (set or commented out)")
        }
        for secret in ["TENCENT_SECRET_KEY", "TENCENT_CALLBACK_TOKEN"] {
            #expect(config.range(of: "(?m)^\\s*\(secret)", options: .regularExpression) == nil, "no secret in the config file")
        }

        let assignments = try Self.environmentAssignments()
        let settings = Set(ServiceSettings.Key.allCases.map(\.environmentVariable))
        for name in settings {
            #expect(assignments[name] != nil, "samples/subscriber-sync.env lacks \(name)")
        }
        let known = settings.union([ServiceSettings.forwardTokenEnvironment, ServiceSettings.readAPITokenEnvironment])
        for name in assignments.keys where name.hasPrefix("SUBSCRIBER_SYNC_") {
            #expect(known.contains(name), "samples/subscriber-sync.env names \(name), which the service ignores")
        }
        #expect(assignments[ServiceSettings.secretKeyEnvironment] != nil)
        #expect(assignments[ServiceSettings.callbackTokenEnvironment] != nil)
        #expect(assignments[ServiceSettings.forwardTokenEnvironment] != nil)
    }

    @Test("serve --check-config accepts samples/subscriber-sync.yaml as it is")
    func configSampleIsAccepted() async throws {
        let run = try await Tool.checkConfig(["--config", Self.configSample.path])
        #expect(run.status == 0, "exit \(run.status); stderr:\n\(run.stderr)")
        #expect(run.stdout.contains("configuration is valid"))
    }

    @Test("serve --check-config accepts samples/subscriber-sync-postgres.yaml, its password file put in place")
    func postgresConfigSampleIsAccepted() async throws {
        try await Self.withScratch { scratch in
            let sample = Self.root.appendingPathComponent("samples/subscriber-sync-postgres.yaml")
            let passwordFile = try Self.writeSecret("database-password", in: scratch)
            let text = try Self.text(sample)
            #expect(text.contains("databasePasswordFile: /etc/subscriber-sync/database-password"))
            let placed = scratch.appendingPathComponent("postgres.yaml")
            try text.replacingOccurrences(of: "databasePasswordFile: /etc/subscriber-sync/database-password",
                                          with: "databasePasswordFile: \(passwordFile)")
                .write(to: placed, atomically: true, encoding: .utf8)
            let run = try await Tool.checkConfig(["--config", placed.path])
            #expect(run.status == 0, "exit \(run.status); stderr:\n\(run.stderr)")
            #expect(run.stdout.contains("configuration is valid"))
        }
    }

    @Test("serve --check-config accepts the config sample with every commented-out option turned on")
    func configSampleWithEveryOptionIsAccepted() async throws {
        try await Self.withScratch { scratch in
            let secretFiles: [ServiceSettings.Key: String] = [
                .secretKeyFile: try Self.writeSecret("secret-key", in: scratch),
                .callbackTokenFile: try Self.writeSecret("callback-token", in: scratch),
                .databasePasswordFile: try Self.writeSecret("database-password", in: scratch),
                .forwardTokenFile: try Self.writeSecret("forward-token", in: scratch),
                .readApiTokenFile: try Self.writeSecret("read-api-token", in: scratch),
            ]
            var uncommented: [String] = []
            var lines: [String] = []
            for line in try Self.text(Self.configSample).components(separatedBy: "\n") {
                guard line.hasPrefix("#"), let colon = line.firstIndex(of: ":"),
                      let key = ServiceSettings.Key(rawValue: String(line[line.index(after: line.startIndex)..<colon])) else {
                    lines.append(line)
                    continue
                }
                uncommented.append(key.rawValue)
                lines.append(secretFiles[key].map { "\(key.rawValue): \($0)" } ?? String(line.dropFirst()))
            }
            #expect(Set(uncommented) == ["callbackTokenFile", "secretKeyFile", "eventsRotateBytes", "apiBaseUrl", "databasePasswordFile",
                                         "forward", "forwardTokenFile", "readApiListen", "readApiTokenFile"])
            let everything = scratch.appendingPathComponent("everything.yaml")
            try lines.joined(separator: "\n").write(to: everything, atomically: true, encoding: .utf8)
            let run = try await Tool.checkConfig(["--config", everything.path])
            #expect(run.status == 0, "exit \(run.status); stderr:\n\(run.stderr)")
        }
    }

    @Test("serve --check-config refuses a broken copy of the config sample, naming the setting")
    func brokenConfigSampleIsRefused() async throws {
        try await Self.withScratch { scratch in
            let broken = try Self.text(Self.configSample)
                .replacingOccurrences(of: #"listen: "127.0.0.1:8080""#, with: #"listen: "nope""#)
            #expect(broken.contains(#"listen: "nope""#))
            let file = scratch.appendingPathComponent("broken.yaml")
            try broken.write(to: file, atomically: true, encoding: .utf8)
            let run = try await Tool.checkConfig(["--config", file.path])
            #expect(run.status != 0)
            #expect(run.stderr.contains("listen must be HOST:PORT"), "stderr:\n\(run.stderr)")
            #expect(!run.stdout.contains("configuration is valid"))
        }
    }

    /// `NAME=value` assignments in the environment sample, commented out or not.
    static func environmentAssignments() throws -> [String: String] {
        var assignments: [String: String] = [:]
        for rawLine in try text(environmentSample).components(separatedBy: "\n") {
            var line = Substring(rawLine)
            if line.hasPrefix("#") { line = line.dropFirst() }
            guard let equals = line.firstIndex(of: "="), line.first?.isUppercase == true else { continue }
            let name = String(line[..<equals])
            guard name.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }) else { continue }
            assignments[name] = String(line[line.index(after: equals)...])
        }
        return assignments
    }

    @Test("serve --check-config accepts the environment sample with every variable turned on, and no config file")
    func environmentSampleIsAccepted() async throws {
        try await Self.withScratch { scratch in
            var environment = try Self.environmentAssignments()
            environment["SUBSCRIBER_SYNC_SECRET_KEY_FILE"] = try Self.writeSecret("secret-key", in: scratch)
            environment["SUBSCRIBER_SYNC_CALLBACK_TOKEN_FILE"] = try Self.writeSecret("callback-token", in: scratch)
            environment["SUBSCRIBER_SYNC_FORWARD_TOKEN_FILE"] = try Self.writeSecret("forward-token", in: scratch)
            environment["SUBSCRIBER_SYNC_READ_API_TOKEN_FILE"] = try Self.writeSecret("read-api-token", in: scratch)
            let run = try await Tool.checkConfig([], environment: SubscriberSyncExecutable.environment(adding: environment))
            #expect(run.status == 0, "exit \(run.status); stderr:\n\(run.stderr)")

            // Proof that the variables are read: a bad value in one of them is refused.
            environment["SUBSCRIBER_SYNC_MAX_REMOVAL_RATIO"] = "3"
            let refused = try await Tool.checkConfig([], environment: SubscriberSyncExecutable.environment(adding: environment))
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("maxRemovalRatio"), "stderr:\n\(refused.stderr)")
        }
    }

    // MARK: - Posting the callback payloads

    @Test("post-callback.sh signs every callback sample so that a service with a token answers OK",
          .enabled(if: SamplesTests.canPost, "needs bash, curl and sha256sum"))
    func callbackSamplesAreAccepted() async throws {
        try await withSandbox { sandbox in
            let service = try await sandbox.startService()
            let url = service.baseURL + "/tencent/callback"
            let sdkAppID = service.configuration.sdkAppID
            let token = try #require(service.configuration.token.token)
            let environment = SubscriberSyncExecutable.environment(adding: ["TENCENT_CALLBACK_TOKEN": token])
            func post(_ files: [URL], extra: [String] = [], environment: [String: String]) async throws -> ChildProcess.Result {
                try await Tool.run("bash", [Self.postScript.path, "--url", url, "--sdkappid", sdkAppID] + extra + files.map(\.path),
                                   environment: environment)
            }

            let payloads = Self.sampleFiles(["json"], under: Self.callbacks)
            let startedAt = Date()
            for payload in payloads {
                let run = try await post([payload], environment: environment)
                #expect(run.status == 0, "\(Self.relative(payload)): exit \(run.status)\n\(run.stdout)\(run.stderr)")
                #expect(run.stdout.contains("HTTP 200"), "\(Self.relative(payload)): \(run.stdout)")
                #expect(run.stdout.contains(#""ActionStatus":"OK""#), "\(Self.relative(payload)): \(run.stdout)")
            }

            // after-add-subscriber.json subscribed jared and leckie, with EventTime replaced by now.
            let addPayload = Self.callbacks.appendingPathComponent("after-add-subscriber.json")
            let account = try #require(try Self.jsonObject(addPayload)["Official_Account"] as? String)
            let subscribed = { EventFile.events(service.eventsPath).filter {
                $0.type == "io.subscriber-sync.subscriber.subscribed" && $0.dataAccount == account
            } }
            let written = await waitUntil(timeout: .seconds(10)) { subscribed().count >= 2 }
            #expect(written, "events:\n\((try? String(contentsOfFile: service.eventsPath, encoding: .utf8)) ?? "")")
            #expect(Set(subscribed().compactMap(\.dataSubscriber)) == ["jared", "leckie"])
            for event in subscribed() {
                let time = try #require(try JSONLine.object(event.line)["time"] as? String)
                let parsed = try #require(ISO8601DateFormatter.withFractionalSeconds.date(from: time), "time \(time)")
                #expect(parsed.timeIntervalSince(startedAt) > -5, "EventTime was not refreshed: \(time)")
            }

            // --keep-event-time posts the file's 2022 EventTime: older than the stored change, so still OK.
            let kept = try await post([addPayload], extra: ["--keep-event-time"], environment: environment)
            #expect(kept.status == 0, "\(kept.stdout)\(kept.stderr)")
            #expect(kept.stdout.contains(#""ActionStatus":"OK""#))

            // --token-file works, and a wrong token is refused (401) with a non-zero exit.
            let tokenFile = sandbox.path("post.token")
            try Data((token + "\n").utf8).write(to: URL(fileURLWithPath: tokenFile))
            let viaFile = try await post([addPayload], extra: ["--token-file", tokenFile], environment: SubscriberSyncExecutable.environment())
            #expect(viaFile.status == 0, "\(viaFile.stdout)\(viaFile.stderr)")
            let wrong = try await post([addPayload], environment: SubscriberSyncExecutable.environment(adding: ["TENCENT_CALLBACK_TOKEN": "not-the-token"]))
            #expect(wrong.status == 1)
            #expect(wrong.stdout.contains("HTTP 401"), "\(wrong.stdout)\(wrong.stderr)")
        }
    }
}

extension ISO8601DateFormatter {
    /// RFC 3339 with milliseconds, as the events' `time`.
    fileprivate static var withFractionalSeconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
