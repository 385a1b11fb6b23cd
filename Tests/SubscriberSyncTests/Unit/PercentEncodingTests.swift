import Testing
@testable import SubscriberSync

@Suite struct PercentEncodingTests {
    @Test(arguments: [
        ("@TOA#_x", "%40TOA%23_x"),
        ("a b", "a%20b"),
        ("+", "%2B"),
        ("/", "%2F"),
        ("=", "%3D"),
        ("%", "%25"),
        ("&?", "%26%3F"),
        ("AZaz09-._~", "AZaz09-._~"),
        ("é", "%C3%A9"),
        ("中", "%E4%B8%AD"),
        ("😀", "%F0%9F%98%80"),
        ("\u{0}\u{7F}", "%00%7F"),
        ("", ""),
    ])
    func knownEncodings(value: String, encoded: String) {
        #expect(PercentEncoding.encode(value) == encoded)
    }

    /// The bytes of the hand-written encoder this replaced, for every scalar below U+0800 and a few
    /// beyond, alone and between unreserved characters.
    @Test func sameBytesAsTheFormerEncoder() {
        let scalars = (0..<0x800).compactMap(Unicode.Scalar.init) + ["\u{FFFD}", "\u{10FFFF}", "\u{1F600}"]
        for scalar in scalars {
            for value in [String(scalar), "a\(scalar)~"] {
                #expect(PercentEncoding.encode(value) == Self.formerEncode(value), "U+\(String(scalar.value, radix: 16))")
            }
        }
    }

    static func formerEncode(_ value: String) -> String {
        var result = ""
        let hex = Array("0123456789ABCDEF".unicodeScalars)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result.unicodeScalars.append("%")
                result.unicodeScalars.append(hex[Int(byte >> 4)])
                result.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return result
    }
}
