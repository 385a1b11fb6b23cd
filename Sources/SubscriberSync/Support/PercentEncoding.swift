/// RFC 3986 percent-encoding: everything but the unreserved characters.
public enum PercentEncoding {
    public static func encode(_ value: String) -> String {
        var result = ""
        result.unicodeScalars.reserveCapacity(value.utf8.count)
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
