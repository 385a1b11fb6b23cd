import CZlib

/// zlib streams (2-byte header, deflate, Adler-32), as Tencent's UserSig wraps its JSON.
enum Zlib {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func compress(_ input: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) throws -> [UInt8] {
        var length = compressBound(uLong(input.count))
        var output = [UInt8](repeating: 0, count: Int(length))
        let status = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                compress2(destination.baseAddress, &length, source.baseAddress, uLong(source.count), level)
            }
        }
        guard status == Z_OK else { throw Failure(description: "zlib compress failed (\(status))") }
        return Array(output.prefix(Int(length)))
    }

    /// Inflates a whole zlib stream; refuses outputs above `limit` bytes (a UserSig is a few hundred).
    static func decompress(_ input: [UInt8], limit: Int = 1 << 16) throws -> [UInt8] {
        var capacity = max(256, input.count * 4)
        while true {
            var length = uLong(capacity)
            var output = [UInt8](repeating: 0, count: capacity)
            let status = input.withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer { destination in
                    uncompress(destination.baseAddress, &length, source.baseAddress, uLong(source.count))
                }
            }
            switch status {
            case Z_OK: return Array(output.prefix(Int(length)))
            case Z_BUF_ERROR where capacity < limit: capacity = min(limit, capacity * 4)
            default: throw Failure(description: "not a zlib stream (\(status))")
            }
        }
    }
}
