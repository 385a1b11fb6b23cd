import Foundation

/// RFC 3986 percent-encoding: everything but the unreserved characters (ALPHA / DIGIT / "-" / "." /
/// "_" / "~") becomes `%XX` of its UTF-8 bytes, in upper-case hex.
public enum PercentEncoding {
    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    public static func encode(_ value: String) -> String {
        // nil only for a string that is not valid Unicode, which a Swift `String` always is.
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? value
    }
}
