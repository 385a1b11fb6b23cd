import Foundation
import TencentSimulator

/// The tests' deterministic random numbers: the simulator's SplitMix64, from a seed a failure
/// message can name.
typealias SeededGenerator = SplitMix64

extension SplitMix64 {
    /// `SUBSCRIBER_SYNC_TEST_SEED` (decimal or 0x-hex) when set, to replay or explore; else `fallback`.
    static func testSeed(default fallback: UInt64) -> UInt64 {
        guard let text = ProcessInfo.processInfo.environment["SUBSCRIBER_SYNC_TEST_SEED"], !text.isEmpty else { return fallback }
        let parsed = text.lowercased().hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        return parsed ?? fallback
    }
}
