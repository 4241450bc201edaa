import LisCore
import Testing

/// The laws of a hybrid logical clock (Kulkarni et al. 2014), checked over many random
/// interleavings of local events and receives, including physical clocks that jump back.
@Suite struct HLCTests {
    @Test func issuedTimestampsStrictlyIncrease() {
        var random = SeededRandom(seed: 7)
        for _ in 0..<200 {
            var clock = HybridLogicalClock()
            var physical: Int64 = 1_000
            var last = HLCTimestamp.zero
            for _ in 0..<200 {
                physical += Int64(random.next() % 5) - 2  // may go back: NTP steps, drift
                let t: HLCTimestamp
                if random.next() % 2 == 0 {
                    t = clock.now(physicalMs: physical)
                } else {
                    let remote = HLCTimestamp(physicalMs: physical + Int64(random.next() % 7) - 3, logical: UInt32(random.next() % 4))
                    t = clock.receive(remote, physicalMs: physical)
                    #expect(t > remote, "a receive is after what was received")
                }
                #expect(t > last, "timestamps never repeat or go back")
                #expect(t.physicalMs >= physical, "never below the physical clock")
                last = t
            }
        }
    }

    @Test func physicalPartFollowsTheClockWhenItAdvances() {
        var clock = HybridLogicalClock()
        #expect(clock.now(physicalMs: 10) == HLCTimestamp(physicalMs: 10, logical: 0))
        #expect(clock.now(physicalMs: 10) == HLCTimestamp(physicalMs: 10, logical: 1))
        #expect(clock.now(physicalMs: 9) == HLCTimestamp(physicalMs: 10, logical: 2))
        #expect(clock.now(physicalMs: 11) == HLCTimestamp(physicalMs: 11, logical: 0))
    }

    @Test func receiveFromTheFutureAdoptsTheRemoteTime() {
        var clock = HybridLogicalClock()
        _ = clock.now(physicalMs: 100)
        let t = clock.receive(HLCTimestamp(physicalMs: 500, logical: 3), physicalMs: 101)
        #expect(t == HLCTimestamp(physicalMs: 500, logical: 4))
        #expect(clock.now(physicalMs: 102) == HLCTimestamp(physicalMs: 500, logical: 5))
    }

    @Test func logicalCounterCarriesInsteadOfWrapping() {
        var clock = HybridLogicalClock()
        let top = clock.receive(HLCTimestamp(physicalMs: 5, logical: UInt32.max - 1), physicalMs: 5)
        #expect(top == HLCTimestamp(physicalMs: 5, logical: UInt32.max))
        #expect(clock.now(physicalMs: 5) == HLCTimestamp(physicalMs: 6, logical: 0))
    }
}
