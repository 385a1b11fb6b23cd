import Foundation
import Testing
@testable import SubscriberSync

@Suite struct ServiceSettingsTests {
    let directory: TemporaryDirectory
    init() throws { directory = try TemporaryDirectory() }

    @Test func defaults() async throws {
        let settings = try await ServiceSettings.load(flags: [.sdkappid: ["1400000000"]], configFile: nil, environment: [:])
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
        let settings = try await ServiceSettings.load(flags: [.listen: ["127.0.0.1:7002"]], configFile: file, environment: environment)
        #expect(settings.port == 7002)
        #expect(settings.identifier == "env-admin")
        #expect(settings.callbackPath == "/from-file")
        #expect(settings.sdkAppID == "1400000001")
        #expect(settings.events == .file("/var/log/from-file.jsonl"))
        #expect(settings.officialAccounts == ["@TOA#_e1", "@TOA#_e2"])
        #expect(settings.database == .sqlite(path: "subscriber-sync.sqlite"))
    }

    @Test func jsonConfigFile() async throws {
        let file = directory.file("config.json")
        try #"{"sdkappid": 1400000002, "requestTimeWindow": 30, "maxRemovalRatio": 0.5, "officialAccounts": ["@TOA#_j"]}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let settings = try await ServiceSettings.load(flags: [:], configFile: file, environment: [:])
        #expect(settings.sdkAppID == "1400000002")
        #expect(settings.requestTimeWindowSeconds == 30)
        #expect(settings.officialAccounts == ["@TOA#_j"])
        #expect(settings.removalGuard.maxRemovalRatio == 0.5)
        try #"{"sdkappid": 1, "maxRemovalRatio": 1.5}"#.write(toFile: file, atomically: true, encoding: .utf8)
        await #expect(throws: ServiceSettings.Invalid.self) { try await ServiceSettings.load(flags: [:], configFile: file, environment: [:]) }
    }

    /// Every source may hold a number as text, a JSON file also as a number; the first source that
    /// holds the key wins whatever its form.
    @Test func numbersInEveryForm() async throws {
        let file = directory.file("config.json")
        try #"{"sdkappid": "1400000003", "apiRateLimit": 50, "apiTimeout": "20", "maxRemovals": 7.0, "maxRemovalRatio": 1}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try await ServiceSettings.load(flags: [:], configFile: file, environment: [:])
        #expect(fromFile.sdkAppID == "1400000003")
        #expect(fromFile.apiRateLimit == 50)
        #expect(fromFile.apiTimeoutSeconds == 20)
        #expect(fromFile.removalGuard.maxRemovals == 7)
        #expect(fromFile.removalGuard.maxRemovalRatio == 1)
        let overridden = try await ServiceSettings.load(flags: [.apiRateLimit: [" 60 "]], configFile: file,
                                                      environment: ["SUBSCRIBER_SYNC_API_RATE_LIMIT": "70", "SUBSCRIBER_SYNC_API_TIMEOUT": " 30"])
        #expect(overridden.apiRateLimit == 60)
        #expect(overridden.apiTimeoutSeconds == 30)
    }

    @Test(arguments: [
        (#"{"sdkappid": 1, "apiRateLimit": 2.5}"#, #"apiRateLimit must be an integer in 1...10000, got "2.5""#),
        (#"{"sdkappid": 1, "apiRateLimit": 0}"#, #"apiRateLimit must be an integer in 1...10000, got "0""#),
        (#"{"sdkappid": 1, "apiRateLimit": "many"}"#, #"apiRateLimit must be an integer in 1...10000, got "many""#),
        (#"{"sdkappid": 1, "maxRemovalRatio": 2}"#, #"maxRemovalRatio must be a number from 0 to 1, got "2""#),
        (#"{"sdkappid": 1, "maxRemovalRatio": 1.5}"#, #"maxRemovalRatio must be a number from 0 to 1, got "1.5""#),
        (#"{"sdkappid": 1, "maxRemovalRatio": "half"}"#, #"maxRemovalRatio must be a number from 0 to 1, got "half""#),
    ])
    func badNumbersAreNamedWithTheirValue(json: String, message: String) async throws {
        let file = directory.file("bad.json")
        try json.write(toFile: file, atomically: true, encoding: .utf8)
        let error = await #expect(throws: ServiceSettings.Invalid.self) {
            try await ServiceSettings.load(flags: [:], configFile: file, environment: [:])
        }
        #expect(error?.description == message)
    }

    @Test func secretsComeFromFilesOrTheEnvironment() async throws {
        let tokenFile = directory.file("token")
        try "from-file\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let fromEnvironment = try await ServiceSettings.load(flags: [.sdkappid: ["1"]], configFile: nil,
                                                          environment: ["TENCENT_CALLBACK_TOKEN": "from-env", "TENCENT_SECRET_KEY": "key"])
        #expect(fromEnvironment.callbackToken == "from-env")
        #expect(fromEnvironment.secretKey == "key")
        let fromFile = try await ServiceSettings.load(flags: [.sdkappid: ["1"], .callbackTokenFile: [tokenFile]], configFile: nil,
                                                   environment: ["TENCENT_CALLBACK_TOKEN": "from-env"])
        #expect(fromFile.callbackToken == "from-file")
    }

    @Test(arguments: [
        [ServiceSettings.Key.listen: ["nohost"]],
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
    func invalidValuesAreRefusedWithAMessage(_ flags: [ServiceSettings.Key: [String]]) async throws {
        var all = flags
        all[.sdkappid] = ["1400000000"]
        await #expect(throws: ServiceSettings.Invalid.self) {
            try await ServiceSettings.load(flags: all, configFile: nil, environment: [:])
        }
    }

    @Test func sdkAppIDIsRequired() async throws {
        let error = await #expect(throws: ServiceSettings.Invalid.self) {
            try await ServiceSettings.load(flags: [:], configFile: nil, environment: [:])
        }
        #expect(error?.description.contains("sdkappid") == true)
    }

    @Test func secretsNeverAppearInErrors() async throws {
        let error = await #expect(throws: ServiceSettings.Invalid.self) {
            try await ServiceSettings.load(flags: [.listen: ["bad"]], configFile: nil,
                                         environment: ["TENCENT_CALLBACK_TOKEN": "s3cr3t-token", "SUBSCRIBER_SYNC_SDKAPPID": "1"])
        }
        #expect(error?.description.contains("s3cr3t") == false)
    }

    @Test func environmentVariableNames() {
        #expect(ServiceSettings.Key.callbackPath.environmentVariable == "SUBSCRIBER_SYNC_CALLBACK_PATH")
        #expect(ServiceSettings.Key.eventsRotateBytes.environmentVariable == "SUBSCRIBER_SYNC_EVENTS_ROTATE_BYTES")
        #expect(ServiceSettings.Key.sdkappid.environmentVariable == "SUBSCRIBER_SYNC_SDKAPPID")
    }
}

@Suite struct UnknownSettingsTests {
    let directory: TemporaryDirectory
    init() throws { directory = try TemporaryDirectory() }

    @Test func unknownConfigKeysAreRefusedWithTheClosestKnownKey() async throws {
        let file = directory.file("config.yaml")
        try "sdkappid: 1400000000\nreconcileIntervall: 5m\nremovalRatioFlor: 3\ncallbackToken: s3cret\n".write(toFile: file, atomically: true, encoding: .utf8)
        do {
            _ = try await ServiceSettings.load(flags: [:], configFile: file, environment: [:])
            Issue.record("an unknown key was accepted")
        } catch let error as UnknownSettings.InConfigFile {
            #expect(error.keys.map(\.key) == ["reconcileIntervall", "removalRatioFlor", "callbackToken"])
            #expect(error.keys.map(\.suggestion) == ["reconcileInterval", "removalRatioFloor", "callbackTokenFile"])
            #expect(!error.description.contains("s3cret"), "values are never repeated: \(error)")
        }
        try "sdkappid: 1400000000\nremovalRatioFloor: 3\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await ServiceSettings.load(flags: [:], configFile: file, environment: [:]).removalGuard.removalRatioFloor == 3)
    }

    @Test func unknownEnvironmentVariablesOnlyWarn() async throws {
        let settings = try await ServiceSettings.load(flags: [.sdkappid: ["1"]], configFile: nil, environment: [
            "SUBSCRIBER_SYNC_LOG_LEVEL": "debug", "SUBSCRIBER_SYNC_MAX_REMOVALZ": "3", "OTHER_VARIABLE": "x",
        ])
        #expect(settings.logLevel == "debug")
        #expect(settings.warnings == ["unknown environment variable SUBSCRIBER_SYNC_MAX_REMOVALZ is ignored (did you mean SUBSCRIBER_SYNC_MAX_REMOVALS?)"])
    }
}
