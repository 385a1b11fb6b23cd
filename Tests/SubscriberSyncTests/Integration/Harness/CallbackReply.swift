import Foundation

/// The answer to one callback POST.
struct CallbackReply: Sendable, CustomStringConvertible {
    var status: Int
    var body: String
    var contentType: String?
    var actionStatus: String?
    var errorCode: Int64?
    var errorInfo: String?
    var isJSONObject: Bool

    init(status: Int, body: String, contentType: String?) {
        self.status = status
        self.body = body
        self.contentType = contentType
        if let object = try? JSONLine.object(body) {
            isJSONObject = true
            actionStatus = object["ActionStatus"] as? String
            errorCode = JSONLine.int64(object["ErrorCode"])
            errorInfo = object["ErrorInfo"] as? String
        } else {
            isJSONObject = false
        }
    }

    /// 200 with `{"ActionStatus":"OK","ErrorCode":0,...}`.
    var isOK: Bool { status == 200 && actionStatus == "OK" && errorCode == 0 }

    /// A refusal as the protocol wants it: JSON, ActionStatus FAIL, a non-zero ErrorCode.
    var isWellFormedRefusal: Bool {
        isJSONObject && actionStatus == "FAIL" && (errorCode ?? 0) != 0 && errorInfo != nil
    }

    var description: String { "HTTP \(status) \(body)" }
}

