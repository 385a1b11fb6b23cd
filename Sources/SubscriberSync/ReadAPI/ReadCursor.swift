import Foundation

/// A keyset cursor: the last subscriber ID of a page, in URL-safe base64 without padding, so it
/// fits a JSON string and a query parameter alike. The next page starts after that ID, so a
/// subscriber who stays subscribed during a paging is on exactly one page, whoever joins or
/// leaves meanwhile.
public enum ReadCursor {
    public static func encode(after subscriber: String) -> String {
        var text = Data(subscriber.utf8).base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    /// The cursor of the page after `page`; `""` when it is the last.
    static func next(after page: MirrorPage) -> String {
        guard page.hasMore, let last = page.records.last else { return "" }
        return encode(after: last.subscriber)
    }

    /// The subscriber ID to continue after; nil for a cursor this service did not make.
    public static func decode(_ cursor: String) -> String? {
        // Anything but base64url fails below: the decoded ID must encode back to exactly this text.
        guard !cursor.isEmpty, cursor.utf8.count <= 1_024 else { return nil }
        var text = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        text += String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
        guard let bytes = Data(base64Encoded: text), !bytes.isEmpty,
              let subscriber = String(data: bytes, encoding: .utf8), TencentIdentifier.isValid(subscriber),
              encode(after: subscriber) == cursor else { return nil }
        return subscriber
    }
}
