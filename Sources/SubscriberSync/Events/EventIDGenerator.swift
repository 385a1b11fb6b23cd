import Synchronization

/// Event ids in the shape of a version-4 UUID: 58 random bits chosen once per process, then a
/// 64-bit counter. Unique across processes (by the random part) and within one (by the counter),
/// at the cost of an atomic increment instead of a read of /dev/urandom.
final class EventIDGenerator: Sendable {
    static let shared = EventIDGenerator()

    private let prefix: UInt64
    private let counter = Atomic<UInt64>(0)

    init() {
        var random = SystemRandomNumberGenerator()
        // Version 4 in the 13th hex digit: the third group of the UUID starts with "4".
        prefix = (random.next() & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
    }

    func next() -> String {
        let count = counter.add(1, ordering: .relaxed).newValue
        // Variant bits (10xx) in the 17th hex digit.
        let low = (count & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        let prefix = self.prefix
        // Written straight into the string's storage: this runs on the commit thread for every event.
        return String(unsafeUninitializedCapacity: 36) { bytes in
            var index = 0
            func put(_ value: UInt64) {
                for shift in stride(from: 60, through: 0, by: -4) {
                    if index == 8 || index == 13 || index == 18 || index == 23 {
                        bytes[index] = UInt8(ascii: "-")
                        index += 1
                    }
                    let digit = UInt8((value >> UInt64(shift)) & 0xF)
                    bytes[index] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                    index += 1
                }
            }
            put(prefix)
            put(low)
            return index
        }
    }
}
