import Hummingbird

/// The JSON answers Tencent expects from a callback URL.
enum CallbackAnswer {
    static let okBody = ByteBuffer(string: #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#)

    static func ok() -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: okBody))
    }

    /// A before-callback's answer from its forward target (or the fallback), passed through.
    static func relayed(_ answer: BeforeCallbackRelay.Answer) -> Response {
        var headers = HTTPFields()
        if let contentType = answer.contentType { headers[.contentType] = contentType }
        return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: answer.body))
    }

    static func refused(_ refusal: CallbackRefusal) -> Response {
        var writer = JSONObjectWriter()
        writer.string("ActionStatus", "FAIL")
        writer.int("ErrorCode", Int64(refusal.errorCode))
        writer.string("ErrorInfo", refusal.message)
        return Response(status: refusal.status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: writer.finished())))
    }
}
