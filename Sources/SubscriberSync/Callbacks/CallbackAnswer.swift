import Hummingbird

/// The JSON answers Tencent expects from a callback URL.
enum CallbackAnswer {
    static let okBody = ByteBuffer(string: #"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#)

    static func ok() -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: okBody))
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
