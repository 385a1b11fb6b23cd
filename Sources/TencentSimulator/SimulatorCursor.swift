import SubscriberSync
import Crypto
import Foundation

/// `Next` cursors: opaque, authenticated, and deliberately URL-unsafe.
///
/// Layout before base64: a fixed 3-byte prefix that encodes to `+/+/`, a version, the paging
/// mode, the page index, the account, the position (last key or offset), 0–2 zero pad bytes and
/// the pad length (so that the total length is ≡ 1 mod 3 and the base64 always ends in `==`),
/// then a 16-byte HMAC-SHA256 tag under a key drawn at random per simulator. A cursor from another
/// simulator, for another account, altered in any bit, or made up, fails the tag or the account
/// check and is refused.
struct CursorCodec: Sendable {
    enum Position: Equatable, Sendable {
        /// Keyset: the next page starts after this `Subscriber_Account`.
        case after(String)
        /// Offset: the next page starts at this index.
        case offset(Int)
    }

    struct Cursor: Equatable, Sendable {
        var account: String
        var position: Position
        /// Index of the page this cursor asks for.
        var page: Int
    }

    /// Base64 `+/+/`.
    static let prefix: [UInt8] = [0xFB, 0xFF, 0xBF]
    static let version: UInt8 = 1
    static let tagLength = 16
    static let maxEncodedLength = 8192

    private let key: SymmetricKey

    init(key: SymmetricKey = SymmetricKey(size: .bits256)) {
        self.key = key
    }

    func encode(_ cursor: Cursor) -> String {
        var bytes = Self.prefix
        bytes.reserveCapacity(64 + cursor.account.utf8.count)
        bytes.append(Self.version)
        Self.append(UInt32(truncatingIfNeeded: cursor.page), to: &bytes)
        Self.append(UInt32(cursor.account.utf8.count), to: &bytes)
        bytes.append(contentsOf: cursor.account.utf8)
        switch cursor.position {
        case .after(let key):
            bytes.append(0)
            Self.append(UInt32(key.utf8.count), to: &bytes)
            bytes.append(contentsOf: key.utf8)
        case .offset(let offset):
            bytes.append(1)
            Self.append(UInt32(truncatingIfNeeded: UInt64(offset) >> 32), to: &bytes)
            Self.append(UInt32(truncatingIfNeeded: UInt64(offset)), to: &bytes)
        }
        let unpadded = bytes.count + 1 + Self.tagLength
        let pad = (4 - unpadded % 3) % 3
        bytes.append(contentsOf: repeatElement(0, count: pad))
        bytes.append(UInt8(pad))
        bytes.append(contentsOf: tag(bytes))
        return Data(bytes).base64EncodedString()
    }

    /// nil for anything this codec did not issue.
    func decode(_ text: String) -> Cursor? {
        guard text.utf8.count <= Self.maxEncodedLength, let data = Data(base64Encoded: text) else { return nil }
        let bytes = [UInt8](data)
        let fixed = Self.prefix.count + 1 + 4 + 4 + 1 + 1 + Self.tagLength
        guard bytes.count >= fixed, bytes.count % 3 == 1, Array(bytes[0..<3]) == Self.prefix, bytes[3] == Self.version else { return nil }
        let body = bytes[..<(bytes.count - Self.tagLength)]
        let expected = tag(body)
        guard ConstantTime.equal(bytes[(bytes.count - Self.tagLength)...], expected) else { return nil }

        // Authentic: what follows was written by `encode`, but parse defensively anyway.
        var reader = Reader(bytes: Array(body), index: 4)
        guard let page = reader.uint32(), let accountLength = reader.uint32(), let account = reader.string(Int(accountLength)),
              let mode = reader.byte() else { return nil }
        let position: Position
        switch mode {
        case 0:
            guard let length = reader.uint32(), let key = reader.string(Int(length)) else { return nil }
            position = .after(key)
        case 1:
            guard let high = reader.uint32(), let low = reader.uint32() else { return nil }
            let offset = UInt64(high) << 32 | UInt64(low)
            guard offset <= UInt64(Int.max) else { return nil }
            position = .offset(Int(offset))
        default:
            return nil
        }
        return Cursor(account: account, position: position, page: Int(page))
    }

    private func tag(_ bytes: some DataProtocol) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: bytes, using: key)).prefix(Self.tagLength).map { $0 }
    }

    private static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes.append(UInt8(value >> 24))
        bytes.append(UInt8((value >> 16) & 0xFF))
        bytes.append(UInt8((value >> 8) & 0xFF))
        bytes.append(UInt8(value & 0xFF))
    }

    private struct Reader {
        let bytes: [UInt8]
        var index: Int

        mutating func byte() -> UInt8? {
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func uint32() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            defer { index += 4 }
            return UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16 | UInt32(bytes[index + 2]) << 8 | UInt32(bytes[index + 3])
        }

        mutating func string(_ length: Int) -> String? {
            guard length >= 0, index + length <= bytes.count else { return nil }
            defer { index += length }
            return String(validating: bytes[index..<(index + length)], as: UTF8.self)
        }
    }
}
