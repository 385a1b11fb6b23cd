// One HTTP/1.1 exchange over a plain socket, written in parts the test controls: for a request that
// must be in flight (head and half the body read by the service) when something happens.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class RawHTTPConnection {
    let descriptor: Int32
    let localPort: Int
    private var received: [UInt8] = []

    /// Connects to 127.0.0.1:`port`; the socket is non-blocking once connected.
    init(port: Int) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw IntegrationError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            throw IntegrationError("connect to port \(port): errno \(errno)")
        }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        self.descriptor = descriptor
        self.localPort = Int(UInt16(bigEndian: local.sin_port))
    }

    deinit { close(descriptor) }

    /// The head of a POST with `Connection: close`, so that the answer ends with end of file.
    static func postHead(path: String, contentLength: Int) -> [UInt8] {
        Array(("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(contentLength)\r\nConnection: close\r\n\r\n").utf8)
    }

    /// Writes all of `bytes` (waiting, with a deadline, while the socket buffer is full).
    func send(_ bytes: some Collection<UInt8>, timeout: Duration = .seconds(10)) async throws {
        var remaining = Array(bytes)[...]
        let done = await waitUntil(timeout: timeout) {
            let written = remaining.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written > 0 { remaining = remaining.dropFirst(written) }
            return remaining.isEmpty || (written < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        }
        guard done, remaining.isEmpty else { throw IntegrationError("could not send \(remaining.count) bytes: errno \(errno)") }
    }

    /// Reads until the server closes the connection and returns the answer.
    func readReply(timeout: Duration = .seconds(15)) async throws -> CallbackReply {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var failed: Int32 = 0
        let closed = await waitUntil(timeout: timeout) {
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if count > 0 { received += buffer[..<count]; continue }
                if count == 0 { return true }
                if errno == EAGAIN || errno == EWOULDBLOCK { return false }
                failed = errno
                return true
            }
        }
        guard closed, failed == 0 else {
            throw IntegrationError("no complete answer (errno \(failed)); received: \(String(decoding: received, as: UTF8.self))")
        }
        return try Self.parse(received)
    }

    /// A status line, headers and a body (Content-Length or chunked).
    static func parse(_ bytes: [UInt8]) throws -> CallbackReply {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw IntegrationError("not an HTTP answer: \(text)") }
        let headLines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = headLines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw IntegrationError("no status line: \(text)") }
        var headers: [String: String] = [:]
        for line in headLines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = String(text[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var decoded = ""
            var rest = Substring(body)
            while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
                let start = lineEnd.upperBound
                let end = rest.utf8.index(start, offsetBy: size)
                decoded += rest[start..<end]
                rest = rest[end...].dropFirst(2)
            }
            body = decoded
        }
        return CallbackReply(status: status, body: body, contentType: headers["content-type"])
    }
}
