// The kernel's view of IPv4 TCP sockets (/proc/net/tcp): lets a test wait until a service has
// *read* what a client sent, or has closed its listener, instead of sleeping and hoping.

import Foundation

enum LoopbackTCP {
    struct Socket: Sendable, CustomStringConvertible {
        var localPort: Int
        var remotePort: Int
        /// The kernel's TCP state (1 ESTABLISHED, 10 LISTEN ...).
        var state: Int
        /// Bytes written by the owner and not yet acknowledged by the peer.
        var sendQueue: Int
        /// Bytes received and not yet read by the owner.
        var receiveQueue: Int

        var isEstablished: Bool { state == 0x01 }
        var isListening: Bool { state == 0x0A }

        var description: String {
            "\(localPort)→\(remotePort) state \(state) tx \(sendQueue) rx \(receiveQueue)"
        }
    }

    /// Every IPv4 TCP socket in this network namespace.
    static func sockets() -> [Socket] {
        // Read to the end: /proc files report size 0, and a one-shot read returns only the first page.
        guard let file = FileHandle(forReadingAtPath: "/proc/net/tcp") else { return [] }
        defer { try? file.close() }
        let text = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 4 else { return nil }
            func port(_ address: Substring) -> Int? { address.split(separator: ":").last.flatMap { Int($0, radix: 16) } }
            let queues = fields[4].split(separator: ":")
            guard let local = port(fields[1]), let remote = port(fields[2]), let state = Int(fields[3], radix: 16),
                  queues.count == 2, let send = Int(queues[0], radix: 16), let receive = Int(queues[1], radix: 16) else { return nil }
            return Socket(localPort: local, remotePort: remote, state: state, sendQueue: send, receiveQueue: receive)
        }
    }

    /// True when everything the client on `clientPort` wrote to `serverPort` has been acknowledged
    /// by the server's kernel and read by the server process.
    static func serverHasRead(clientPort: Int, serverPort: Int) -> Bool {
        let all = sockets()
        guard let client = all.first(where: { $0.localPort == clientPort && $0.remotePort == serverPort && $0.isEstablished }),
              let server = all.first(where: { $0.localPort == serverPort && $0.remotePort == clientPort && $0.isEstablished }) else {
            return false
        }
        return client.sendQueue == 0 && server.receiveQueue == 0
    }

    /// True while something listens on `port`.
    static func isListening(port: Int) -> Bool {
        sockets().contains { $0.localPort == port && $0.isListening }
    }
}
