import Foundation
import Testing
@testable import SubscriberSync

@Suite struct ServeSettingsTests {
    let directory: TemporaryDirectory
    init() throws { directory = try TemporaryDirectory() }

    @Test func defaults() async throws {
        let settings = try await ServeSettings.load(flags: [.sdkappid: ["1400000000"]], configFile: nil, environment: [:])
        #expect(settings.host == "127.0.0.1")
        #expect(settings.port == 8080)
        #expect(settings.callbackPath == "/tencent/callback")
        #expect(settings.events == .stdout)
        #expect(settings.identifier == "administrator")
        #expect(settings.requestTimeWindowSeconds == 60)
        #expect(settings.callbackToken == nil)
        #expect(settings.officialAccounts.isEmpty)
    }

    @Test func flagsBeatEnvironmentBeatFileBeatDefaults() async throws {
        let file = directory.file("config.yaml")
        try """
            sdkappid: 1400000001
            listen: "0.0.0.0:7000"
            callbackPath: /from-file
            identifier: file-admin
            events: /var/log/from-file.jsonl
            officialAccounts:
              - "@TOA#_file"
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let environment = ["SUBSCRIBER_SYNC_LISTEN": "0.0.0.0:7001", "SUBSCRIBER_SYNC_IDENTIFIER": "env-admin",
                           "SUBSCRIBER_SYNC_OFFICIAL_ACCOUNTS": "@TOA#_e1,@TOA#_e2"]
        let settings = try await ServeSettings.load(flags: [.listen: ["127.0.0.1:7002"]], configFile: file, environment: environment)
        #expect(settings.port == 7002)
        #expect(settings.identifier == "env-admin")
        #expect(settings.callbackPath == "/from-file")
        #expect(settings.sdkAppID == "1400000001")
        #expect(settings.events == .file("/var/log/from-file.jsonl"))
        #expect(settings.officialAccounts == ["@TOA#_e1", "@TOA#_e2"])
        #expect(settings.databasePath == "subscriber-sync.sqlite")
    }

    @Test func jsonConfigFile() async throws {
        let file = directory.file("config.json")
        try #"{"sdkappid": 1400000002, "requestTimeWindow": 30, "maxRemovalRatio": 0.5, "officialAccounts": ["@TOA#_j"]}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let settings = try await ServeSettings.load(flags: [:], configFile: file, environment: [:])
        #expect(settings.sdkAppID == "1400000002")
        #expect(settings.requestTimeWindowSeconds == 30)
        #expect(settings.officialAccounts == ["@TOA#_j"])
        #expect(settings.removalGuard.maxRemovalRatio == 0.5)
        try #"{"sdkappid": 1, "maxRemovalRatio": 1.5}"#.write(toFile: file, atomically: true, encoding: .utf8)
        await #expect(throws: ServeSettings.Invalid.self) { try await ServeSettings.load(flags: [:], configFile: file, environment: [:]) }
    }

    @Test func secretsComeFromFilesOrTheEnvironment() async throws {
        let tokenFile = directory.file("token")
        try "from-file\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let fromEnvironment = try await ServeSettings.load(flags: [.sdkappid: ["1"]], configFile: nil,
                                                          environment: ["TENCENT_CALLBACK_TOKEN": "from-env", "TENCENT_SECRET_KEY": "key"])
        #expect(fromEnvironment.callbackToken == "from-env")
        #expect(fromEnvironment.secretKey == "key")
        let fromFile = try await ServeSettings.load(flags: [.sdkappid: ["1"], .callbackTokenFile: [tokenFile]], configFile: nil,
                                                   environment: ["TENCENT_CALLBACK_TOKEN": "from-env"])
        #expect(fromFile.callbackToken == "from-file")
    }

    @Test(arguments: [
        [ServeSettings.Key.listen: ["nohost"]],
        [.listen: ["host:99999"]],
        [.requestTimeWindow: ["soon"]],
        [.eventsRotateBytes: ["10"]],
        [.callbackPath: ["relative"]],
        [.logLevel: ["loud"]],
        [.callbackTokenFile: ["/nonexistent/token"]],
        [.reconcileInterval: ["9999999999999999h"]],
        [.reconcileInterval: ["31d"]],
        [.reconcileInterval: ["soon"]],
        [.metricsListen: [":9464"]],
        [.logFormat: ["xml"]],
    ])
    func invalidValuesAreRefusedWithAMessage(_ flags: [ServeSettings.Key: [String]]) async throws {
        var all = flags
        all[.sdkappid] = ["1400000000"]
        await #expect(throws: ServeSettings.Invalid.self) {
            try await ServeSettings.load(flags: all, configFile: nil, environment: [:])
        }
    }

    @Test func sdkAppIDIsRequired() async throws {
        let error = await #expect(throws: ServeSettings.Invalid.self) {
            try await ServeSettings.load(flags: [:], configFile: nil, environment: [:])
        }
        #expect(error?.description.contains("sdkappid") == true)
    }

    @Test func secretsNeverAppearInErrors() async throws {
        let error = await #expect(throws: ServeSettings.Invalid.self) {
            try await ServeSettings.load(flags: [.listen: ["bad"]], configFile: nil,
                                         environment: ["TENCENT_CALLBACK_TOKEN": "s3cr3t-token", "SUBSCRIBER_SYNC_SDKAPPID": "1"])
        }
        #expect(error?.description.contains("s3cr3t") == false)
    }

    @Test func environmentVariableNames() {
        #expect(ServeSettings.Key.callbackPath.environmentVariable == "SUBSCRIBER_SYNC_CALLBACK_PATH")
        #expect(ServeSettings.Key.eventsRotateBytes.environmentVariable == "SUBSCRIBER_SYNC_EVENTS_ROTATE_BYTES")
        #expect(ServeSettings.Key.sdkappid.environmentVariable == "SUBSCRIBER_SYNC_SDKAPPID")
    }
}
