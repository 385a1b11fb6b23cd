/// A Tencent user or Official Account ID as this service accepts it, from a callback or a listing.
public enum TencentIdentifier {
    /// Tencent user IDs are at most 32 bytes; the bound keeps every event line far below 16 KiB
    /// while leaving room for longer IDs Tencent may issue.
    public static let maxBytes = 256

    /// 1 to 256 bytes, no control characters: control characters are never part of a Tencent ID,
    /// and SQLite text handling through C strings would cut an ID at a NUL and merge two
    /// subscribers into one.
    public static func isValid(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= maxBytes && !value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F })
    }
}
