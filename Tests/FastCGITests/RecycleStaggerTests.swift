import Testing
@testable import FastCGI

/// Children start together and share the load, so one recycling count for all would replace them
/// all at the same moment; each position gets its own.
@Suite("Recycling staggered by position")
struct RecycleStaggerTests {
    @Test func slotsRecycleAtDifferentCountsFromMaxUpToHalfAgain() {
        #expect((0..<2).map { ProcessPool.recycleAfter(10_000, position: $0, processes: 2) } == [10_000, 15_000])
        #expect((0..<4).map { ProcessPool.recycleAfter(10_000, position: $0, processes: 4) } == [10_000, 11_666, 13_332, 14_998])
        #expect(Set((0..<16).map { ProcessPool.recycleAfter(10_000, position: $0, processes: 16) }).count == 16)
        // One process, or never recycling: as configured.
        #expect(ProcessPool.recycleAfter(5, position: 0, processes: 1) == 5)
        #expect(ProcessPool.recycleAfter(0, position: 3, processes: 4) == 0)
    }

    @Test func extremeSettingsNeitherTrapNorShrink() {
        #expect(ProcessPool.recycleAfter(Int.max, position: 1, processes: 2) == Int.max)
        #expect(ProcessPool.recycleAfter(Int.max - 1, position: 63, processes: 64) == Int.max)
        #expect(ProcessPool.recycleAfter(1, position: 1, processes: 2) == 1)
        #expect(ProcessPool.recycleAfter(-5, position: 1, processes: 2) == 0)
        #expect(ProcessPool.recycleAfter(100, position: 99, processes: 4) == 148)  // a slot past the last: as the last
    }
}
