import Testing
@testable import SubscriberSync

@Suite struct EventIDTests {
    @Test func idsAreUniqueUUIDShapedStrings() {
        let ids = (0..<10_000).map { _ in EventIDGenerator.shared.next() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(100) {
            let groups = id.split(separator: "-")
            #expect(groups.map(\.count) == [8, 4, 4, 4, 12], "\(id)")
            #expect(groups[2].first == "4")
            #expect("89ab".contains(groups[3].first!))
            #expect(id.allSatisfy { "0123456789abcdef-".contains($0) })
        }
        #expect(EventIDGenerator().next() != EventIDGenerator().next(), "processes differ by their random prefix")
        // The last 16 hex digits are the counter (with the variant bits): consecutive ids count up by one.
        let generator = EventIDGenerator()
        func counter(_ id: String) -> UInt64? { UInt64(id.split(separator: "-").suffix(2).joined(), radix: 16) }
        let (first, second) = (generator.next(), generator.next())
        #expect(counter(first) == 0x8000_0000_0000_0001)
        #expect(counter(second) == 0x8000_0000_0000_0002)
        #expect(first.prefix(23) == second.prefix(23))
    }
}
