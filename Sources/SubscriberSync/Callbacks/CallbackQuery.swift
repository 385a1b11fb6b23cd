import Foundation

/// The query parameters Tencent appends to the callback URL.
public struct CallbackQuery: Sendable {
    public var sdkAppID: String?
    public var callbackCommand: String?
    public var sign: String?
    public var requestTime: String?

    public init(sdkAppID: String?, callbackCommand: String? = nil, sign: String? = nil, requestTime: String? = nil) {
        self.sdkAppID = sdkAppID
        self.callbackCommand = callbackCommand
        self.sign = sign
        self.requestTime = requestTime
    }

    /// Reads the four parameters from a raw query string (`a=1&b=2`), as Hummingbird's
    /// `queryParameters` would: the first occurrence of a key wins, values are percent-decoded
    /// (kept as given when that fails). Only these four are looked at, which spares building a
    /// dictionary of every parameter on each callback.
    public init(urlQuery: String?) {
        self.init(sdkAppID: nil)
        guard var urlQuery else { return }
        urlQuery.withUTF8 { bytes in
            var start = 0
            while start <= bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: "&") { end += 1 }
                var equals = start
                while equals < end, bytes[equals] != UInt8(ascii: "=") { equals += 1 }
                let key = UnsafeBufferPointer(rebasing: bytes[start..<equals])
                let value = UnsafeBufferPointer(rebasing: bytes[min(equals + 1, end)..<end])
                func decoded() -> String {
                    let raw = String(decoding: value, as: UTF8.self)
                    guard value.contains(UInt8(ascii: "%")) else { return raw }
                    return raw.removingPercentEncoding ?? raw
                }
                if sdkAppID == nil, key.elementsEqual("SdkAppid".utf8) {
                    sdkAppID = decoded()
                } else if callbackCommand == nil, key.elementsEqual("CallbackCommand".utf8) {
                    callbackCommand = decoded()
                } else if sign == nil, key.elementsEqual("Sign".utf8) {
                    sign = decoded()
                } else if requestTime == nil, key.elementsEqual("RequestTime".utf8) {
                    requestTime = decoded()
                }
                start = end + 1
            }
        }
    }
}
