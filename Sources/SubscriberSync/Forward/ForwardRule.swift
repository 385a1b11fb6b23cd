import Crypto
import Foundation

/// One `--forward [PATTERNS=]URL` rule: the callbacks whose `CallbackCommand` matches one of its
/// globs go to its URL.
public struct ForwardRule: Sendable, Equatable {
    /// Globs on `CallbackCommand`; `*` matches any run of characters. Empty: every command.
    public var patterns: [String]
    public var url: String

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(patterns: [String], url: String) {
        self.patterns = patterns
        self.url = url
    }

    /// Parses `[PATTERNS=]URL`. A value starting with a scheme is a URL alone, so a URL's own
    /// `=` (in its query) is never taken for the separator.
    public static func parse(_ text: String) throws(Invalid) -> ForwardRule {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var patterns: [String] = []
        var url = trimmed
        if !trimmed.lowercased().hasPrefix("http://"), !trimmed.lowercased().hasPrefix("https://"), let equals = trimmed.firstIndex(of: "=") {
            patterns = trimmed[..<equals].split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            url = String(trimmed[trimmed.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
            guard !patterns.contains(where: \.isEmpty) else {
                throw Invalid(description: "forward rule \"\(Self.redacted(trimmed))\": an empty pattern; write PATTERN[,PATTERN…]=URL, such as C2C.*,Group.*=https://backend/callback")
            }
            if let bad = patterns.first(where: { $0.contains(where: { !($0.isLetter || $0.isNumber || ".*_-".contains($0)) }) }) {
                throw Invalid(description: "forward rule pattern \"\(bad)\" may hold letters, digits, '.', '_', '-' and '*' only")
            }
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty, components.fragment == nil else {
            throw Invalid(description: "forward rule \"\(Self.redacted(trimmed))\": the target must be an http:// or https:// URL with a host, such as https://im-backend.internal/callback")
        }
        // They would not be sent (the target authenticates the request by its Sign), and a flag
        // shows in ps.
        guard components.user == nil, components.password == nil else {
            throw Invalid(description: "forward rule \"\(Self.redacted(trimmed))\": a target URL may not carry a user or password; the target checks each request's Sign (made with the forward token) instead")
        }
        return ForwardRule(patterns: patterns, url: url)
    }

    public func matches(_ command: String) -> Bool {
        patterns.isEmpty || patterns.contains { Self.glob($0, matches: command) }
    }

    /// `*` matches any run of characters (none included); everything else matches itself.
    static func glob(_ pattern: String, matches text: String) -> Bool {
        let pattern = Array(pattern.utf8), text = Array(text.utf8)
        var (p, t) = (0, 0)
        var star: Int?, resume = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == UInt8(ascii: "*") {
                star = p
                resume = t
                p += 1
            } else if p < pattern.count, pattern[p] == text[t] {
                p += 1
                t += 1
            } else if let star {
                p = star + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }

    /// The target as logs and metrics name it: scheme, host, port and path, without a user, a
    /// password or a query (which may carry credentials). A query is stood for by the first 8 hex
    /// digits of its SHA-256, so that two targets that differ only there (`?tenant=a`,
    /// `?tenant=b`) keep apart in metrics, logs and `forwards --target`.
    public static func displayName(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return "(unparsable URL)" }
        let query = components.percentEncodedQuery
        components.user = nil
        components.password = nil
        components.query = nil
        components.fragment = nil
        guard let name = components.string else { return "(unparsable URL)" }
        guard let query, !query.isEmpty else { return name }
        let digest = SHA256.hash(data: Data(query.utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
        return "\(name)?(query \(digest))"
    }

    /// The rule as an error may show it: its patterns and the URL without credentials or query.
    static func redacted(_ text: String) -> String {
        var patterns = ""
        var url = text
        if !text.lowercased().hasPrefix("http://"), !text.lowercased().hasPrefix("https://"), let equals = text.firstIndex(of: "=") {
            patterns = String(text[...equals])
            url = String(text[text.index(after: equals)...])
        }
        guard url.contains("://"), url.contains("@") || url.contains("?") else { return text }
        return patterns + displayName(url)
    }
}
