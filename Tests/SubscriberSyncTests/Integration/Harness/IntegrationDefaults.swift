/// The values the integration tests share: app id, token, account, commands, a base EventTime.
enum IntegrationDefaults {
    static let sdkAppID = "1400000000"
    static let token = "integration-token-0123456789"
    static let account = "@TOA#_integration"
    static let addCommand = "OfficialAccount.CallbackAfterAddSubscriber"
    static let deleteCommand = "OfficialAccount.CallbackAfterDeleteSubscriber"
    static let destroyedCommand = "OfficialAccount.CallbackAfterOfficialAccountDestroyed"
    static let createdCommand = "OfficialAccount.CallbackAfterCreateOfficialAccount"
    /// 2023-11-14T22:13:20Z, in milliseconds: a base for EventTime values.
    static let baseEventTime: Int64 = 1_700_000_000_000
}

