@testable import SubscriberSync

/// `get_official_account_info`, which the service does not call: the tests use it to check the
/// simulator's answers and the client's generic `call`.
extension TencentClient {
    /// `SubscriberNum` and name of each account, in chunks of 50. Accounts Tencent reports an error
    /// for are left out of the result.
    func getOfficialAccountInfo(accounts: [String]) async throws(TencentCallError) -> [String: OfficialAccountInfo] {
        var result: [String: OfficialAccountInfo] = [:]
        var start = 0
        while start < accounts.count {
            let chunk = Array(accounts[start..<min(start + GetOfficialAccountInfoRequest.maxAccounts, accounts.count)])
            start += chunk.count
            let answer = try await call(command: "get_official_account_info", body: GetOfficialAccountInfoRequest(accounts: chunk),
                                        answer: OfficialAccountInfoList.self)
            for (index, item) in answer.items.enumerated() where (item.errorCode ?? 0) == 0 {
                // Tencent may not echo the account; then the answer follows the request order.
                if let account = item.officialAccount ?? (index < chunk.count ? chunk[index] : nil) {
                    result[account] = item
                }
            }
        }
        return result
    }
}

/// `get_official_account_info` request (at most 50 accounts per call).
struct GetOfficialAccountInfoRequest: Codable, Sendable, Equatable {
    struct AccountID: Codable, Sendable, Equatable {
        var officialAccount: String
        enum CodingKeys: String, CodingKey { case officialAccount = "Official_Account" }
    }

    struct Filter: Codable, Sendable, Equatable {
        var baseInfo: [String]
        enum CodingKeys: String, CodingKey { case baseInfo = "OfficialAccountBaseInfoFilter" }
    }

    var accounts: [AccountID]
    var responseFilter: Filter?

    static let maxAccounts = 50

    init(accounts: [String], baseInfo: [String] = ["SubscriberNum"]) {
        self.accounts = accounts.map(AccountID.init(officialAccount:))
        self.responseFilter = Filter(baseInfo: baseInfo)
    }

    enum CodingKeys: String, CodingKey {
        case accounts = "OfficialAccountIdList", responseFilter = "ResponseFilter"
    }
}

/// `get_official_account_info` answer.
struct OfficialAccountInfoList: Codable, Sendable, Equatable {
    var items: [OfficialAccountInfo]

    init(items: [OfficialAccountInfo]) { self.items = items }

    enum CodingKeys: String, CodingKey { case items = "OfficialAccountInfoList" }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        items = try container.decodeIfPresent([OfficialAccountInfo].self, forKey: .items) ?? []
    }
}

struct OfficialAccountInfo: Codable, Sendable, Equatable {
    /// Not confirmed to be echoed by Tencent; the client falls back to the request order.
    var officialAccount: String?
    var errorCode: Int?
    var errorInfo: String?
    var subscriberNum: Int64?
    var name: String?

    init(officialAccount: String?, errorCode: Int? = 0, errorInfo: String? = "", subscriberNum: Int64?, name: String? = nil) {
        self.officialAccount = officialAccount
        self.errorCode = errorCode
        self.errorInfo = errorInfo
        self.subscriberNum = subscriberNum
        self.name = name
    }

    enum CodingKeys: String, CodingKey {
        case officialAccount = "Official_Account", errorCode = "ErrorCode", errorInfo = "ErrorInfo"
        case subscriberNum = "SubscriberNum", name = "Name"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        officialAccount = try? container.decodeIfPresent(String.self, forKey: .officialAccount)
        errorCode = (try? container.decodeIfPresent(LenientInt.self, forKey: .errorCode))?.value.map(Int.init)
        errorInfo = try? container.decodeIfPresent(String.self, forKey: .errorInfo)
        subscriberNum = try? container.decodeIfPresent(LenientInt.self, forKey: .subscriberNum)?.value
        name = try? container.decodeIfPresent(String.self, forKey: .name)
    }
}
