/// Comparing secrets (signatures, tokens, tags) without an early exit, so that the time taken
/// tells nothing about where they differ. Only the length is compared first.
public enum ConstantTime {
    public static func equal(_ given: some Collection<UInt8>, _ expected: some Collection<UInt8>) -> Bool {
        guard given.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(given, expected) { difference |= a ^ b }
        return difference == 0
    }
}
