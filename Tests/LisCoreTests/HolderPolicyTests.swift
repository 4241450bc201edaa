@testable import LisCore
import Testing

/// The count-based baselines, one operation at a time, as the holder sees them.
@Suite struct HolderPolicyTests {
    static let nyc = RegionID("nyc")
    static let london = RegionID("london")
    static let sydney = RegionID("sydney")
    static let all = [nyc, london, sydney]

    static func rtt(_ a: RegionID, _ b: RegionID) -> Double { a == b ? 0.5 : 100 }

    static func run(_ name: PolicyName, _ ops: [(Double, RegionID)], holder: RegionID = nyc) -> [HolderPolicy.HandOver?] {
        let policy = HolderPolicy(name: name)
        var stats = HolderPolicy.Stats()
        return ops.map { (t, origin) in
            policy.observe(&stats, origin: origin, holderRegion: holder, candidates: all, now: .ms(t), rttMs: rtt)
        }
    }

    @Test func wpaxosConsecutiveMovesAfterThreeInARow() {
        let interleaved = Self.run(.wpaxosConsecutive, [(0, Self.london), (1, Self.london), (2, Self.nyc), (3, Self.london), (4, Self.london)])
        #expect(interleaved.allSatisfy { $0 == nil }, "a local operation breaks the run")
        let run = Self.run(.wpaxosConsecutive, [(0, Self.london), (1, Self.london), (2, Self.london)])
        #expect(run[0] == nil && run[1] == nil)
        #expect(run[2]?.to == Self.london)
        #expect(Self.run(.wpaxosConsecutive, [(0, Self.nyc), (1, Self.nyc), (2, Self.nyc)]).allSatisfy { $0 == nil }, "never to itself")
    }

    @Test func wpaxosMajorityJudgesEachIntervalWhenItEnds() {
        // 0–3 s: london 2 of 3 — judged at the first access after the interval.
        let moved = Self.run(.wpaxosMajority, [(0, Self.london), (1000, Self.nyc), (2000, Self.london), (3000, Self.nyc)])
        #expect(moved[0...2].allSatisfy { $0 == nil })
        #expect(moved[3]?.to == Self.london)
        // Half is not a majority.
        let tie = Self.run(.wpaxosMajority, [(0, Self.london), (1000, Self.nyc), (3000, Self.nyc)])
        #expect(tie.allSatisfy { $0 == nil })
    }

    @Test func crdbWaitsThirtySecondsThenComparesWeightedCounts() {
        // One London request per second, none local.
        var ops = (0..<40).map { (Double($0) * 1000, Self.london) }
        let decisions = Self.run(.crdbFtw, ops)
        #expect(decisions[0..<30].allSatisfy { $0 == nil }, "no decision on less than 30 s of statistics")
        // At 30 s: log10(31 / 1) × ln(1 + 100) ≈ 6.9 > 0.1.
        #expect(decisions[30]?.to == Self.london)
        // Balanced load stays: never more remote than local requests → the score is ≤ 0.
        ops = (0..<60).map { (Double($0) * 1000, $0 % 2 == 0 ? Self.nyc : Self.london) }
        #expect(Self.run(.crdbFtw, ops).allSatisfy { $0 == nil })
        // A small lead is enough once RTT weighs it: 16 vs 15 → log10(16/15) × ln(101) ≈ 0.13.
        ops = (0..<31).map { (Double($0) * 1000, $0 % 2 == 0 ? Self.london : Self.nyc) }
        #expect(Self.run(.crdbFtw, ops)[30]?.to == Self.london)
    }

    @Test func crdbCountsDecayEveryFiveMinutes() {
        let policy = HolderPolicy(name: .crdbFtw)
        var stats = HolderPolicy.Stats()
        for i in 0..<10 {
            _ = policy.observe(&stats, origin: Self.nyc, holderRegion: Self.nyc, candidates: Self.all, now: .ms(Double(i)), rttMs: Self.rtt)
        }
        _ = policy.observe(&stats, origin: Self.london, holderRegion: Self.nyc, candidates: Self.all, now: .ms(600_000), rttMs: Self.rtt)
        // Two windows later the ten local requests weigh 10 × 0.8² = 6.4.
        #expect(abs((stats.counts[Self.nyc] ?? 0) - 6.4) < 1e-9)
        #expect(stats.counts[Self.london] == 1)
    }

    @Test func staticAndTiersNeverHandOver() {
        #expect(Self.run(.static, (0..<100).map { (Double($0) * 1000, Self.london) }).allSatisfy { $0 == nil })
        #expect(!HolderPolicy(name: .tiers).decidesAtHolder && !HolderPolicy(name: .static).decidesAtHolder)
    }
}

/// Lis's adaptive rule, with the costs of a 1 MiB block and a 0.05 ms local write.
@Suite struct AdaptivePolicyTests {
    static let nyc = RegionID("nyc")
    static let sydney = RegionID("sydney")
    static let london = RegionID("london")
    static let all = [nyc, sydney, london]

    static func rtt(_ a: RegionID, _ b: RegionID) -> Double {
        if a == b { return 0.5 }
        return Set([a, b]) == Set([nyc, london]) ? 70 : 230
    }

    static func run(_ ops: [(Double, RegionID)]) -> [HolderPolicy.HandOver?] {
        let policy = HolderPolicy(name: .adaptive)
        var stats = HolderPolicy.Stats()
        return ops.map { (t, origin) in
            policy.observe(&stats, origin: origin, holderRegion: nyc, candidates: all, now: .ms(t), rttMs: rtt,
                costs: HolderPolicy.Costs(localMs: 0.05, blockBytes: 1 << 20))
        }
    }

    @Test func aFewQuickWritesFromFarAwayMoveTheBlock() {
        let d = Self.run([(0, Self.sydney), (500, Self.sydney), (1000, Self.sydney)])
        #expect(d[0] == nil, "one operation is not worth a move")
        #expect(d.compactMap { $0 }.first?.to == Self.sydney)
        #expect(d.compactMap { $0 }.first?.reason.hasPrefix("adaptive: mean latency") == true)
    }

    @Test func aRareWriterDoesNotMoveIt() {
        // One Sydney write every three minutes: each has decayed away before the next.
        #expect(Self.run((0..<10).map { (Double($0) * 180_000, Self.sydney) }).allSatisfy { $0 == nil })
    }

    @Test func twoRegionsTakingTurnsLeaveItWhereItIs() {
        // London and New York alternate every 5 s, 10 ops/s each turn, for 5 minutes.
        let ops = (0..<3000).map { i -> (Double, RegionID) in
            let t = Double(i) * 100
            return (t, Int(t / 5000) % 2 == 0 ? Self.nyc : Self.london)
        }
        #expect(Self.run(ops).allSatisfy { $0 == nil })
    }

    @Test func aLocalMajorityKeepsIt() {
        let ops = (0..<200).map { i -> (Double, RegionID) in (Double(i) * 100, i % 3 == 0 ? Self.sydney : Self.nyc) }
        #expect(Self.run(ops).allSatisfy { $0 == nil })
    }
}
