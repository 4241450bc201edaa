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
        guard case .adaptive(let hereMs, let thereMs, _, let savingMs, _, let costMs)? = d.compactMap({ $0 }).first?.reason else {
            Issue.record("expected adaptive's own rule, got \(d)")
            return
        }
        #expect(thereMs < hereMs && savingMs >= HolderPolicy.adaptiveMargin * costMs)
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

/// Adaptive's co-access rules: the volume's operations decide for blocks each used too rarely.
@Suite struct CoAccessTests {
    static let nyc = AdaptivePolicyTests.nyc
    static let sydney = AdaptivePolicyTests.sydney
    static let london = AdaptivePolicyTests.london
    static let policy = HolderPolicy(name: .adaptive)

    static func observe(_ stats: inout HolderPolicy.Stats, _ volume: inout HolderPolicy.VolumeStats, _ t: Double, _ origin: RegionID)
        -> HolderPolicy.HandOver?
    {
        policy.observe(&stats, origin: origin, holderRegion: nyc, candidates: AdaptivePolicyTests.all, now: .ms(t),
            rttMs: AdaptivePolicyTests.rtt, costs: HolderPolicy.Costs(localMs: 0.05, blockBytes: 1 << 20), volume: &volume)
    }

    /// Sydney writes 32 blocks of a volume, each once: no block's own rate justifies a move, the
    /// volume's does — and the decision takes along the volume's blocks Sydney alone uses.
    @Test func aRegionBusyOnTheVolumeTakesItsBlocks() {
        var volume = HolderPolicy.VolumeStats()
        var blocks = [HolderPolicy.Stats](repeating: HolderPolicy.Stats(), count: 32)
        var decisions: [HolderPolicy.HandOver?] = []
        for i in 0..<32 { decisions.append(Self.observe(&blocks[i], &volume, Double(i) * 250, Self.sydney)) }
        #expect(decisions[0] == nil, "one operation on the volume is not enough")
        let first = decisions.firstIndex { $0 != nil }
        #expect(first.map { $0 < 10 } ?? false, "a few operations/s on the volume are")
        guard let i = first, let decision = decisions[i] else { return }
        #expect(decision.to == Self.sydney && decision.withVolume && decision.join == .uncontested(idle: true, evidence: 0))
        guard case .coAccess(let region, _, _, let savingMs, _, let costMs) = decision.reason else {
            Issue.record("expected co-access, got \(decision.reason)")
            return
        }
        #expect(region == Self.sydney && savingMs >= HolderPolicy.adaptiveMargin * costMs)
        // Another block Sydney alone used goes along; one New York uses too does not.
        var sydneyOnly = blocks[0]
        #expect(Self.policy.joinsMove(&sydneyOnly, to: Self.sydney, rule: decision.join, now: .ms(Double(i) * 250)))
        var shared = HolderPolicy.Stats()
        for k in 0..<5 { _ = Self.observe(&shared, &volume, Double(i) * 250 + Double(k), k % 2 == 0 ? Self.nyc : Self.sydney) }
        #expect(!Self.policy.joinsMove(&shared, to: Self.sydney, rule: decision.join, now: .ms(Double(i) * 250 + 10)))
    }

    /// `predictive_migration = false`: the same operations move no block ahead of its own
    /// demand — no co-access decision, each block's own rate decides.
    @Test func withoutPredictiveMigrationNoCoAccessMove() {
        let policy = HolderPolicy(name: .adaptive, predictive: false)
        var volume = HolderPolicy.VolumeStats()
        var blocks = [HolderPolicy.Stats](repeating: HolderPolicy.Stats(), count: 32)
        for i in 0..<32 {
            let decision = policy.observe(
                &blocks[i], origin: Self.sydney, holderRegion: Self.nyc, candidates: AdaptivePolicyTests.all, now: .ms(Double(i) * 250),
                rttMs: AdaptivePolicyTests.rtt, costs: HolderPolicy.Costs(localMs: 0.05, blockBytes: 1 << 20), volume: &volume)
            #expect(decision == nil, "block \(i) moved on the volume's behalf")
        }
    }

    /// Two regions that share a volume do not swap its idle blocks: a co-access decision made
    /// while the holder's region also uses the volume takes only blocks the target alone uses.
    @Test func idleBlocksStayWhenTheVolumeIsShared() {
        var volume = HolderPolicy.VolumeStats()
        var local = HolderPolicy.Stats()
        for k in 0..<40 { _ = Self.observe(&local, &volume, Double(k) * 100, Self.nyc) }
        var blocks = [HolderPolicy.Stats](repeating: HolderPolicy.Stats(), count: 40)
        let decisions = (0..<40).map { i in Self.observe(&blocks[i], &volume, 4000 + Double(i) * 100, Self.london) }
        guard let decision = decisions.compactMap({ $0 }).first else {
            Issue.record("London's operations on the volume should move the blocks it alone uses")
            return
        }
        #expect(decision.withVolume && decision.join == .uncontested(idle: false, evidence: 0))
        var idle = HolderPolicy.Stats()
        #expect(!Self.policy.joinsMove(&idle, to: Self.london, rule: decision.join, now: .ms(8000)))
    }

    /// Once a region has taken several of a volume's blocks, a block only it uses goes on its
    /// first operation.
    @Test func aRegionTakingTheVolumeTakesTheNextBlockAtOnce() {
        var volume = HolderPolicy.VolumeStats()
        for k in 0..<4 { volume.handedOver(to: Self.london, now: .ms(Double(k))) }
        var block = HolderPolicy.Stats()
        let decision = Self.observe(&block, &volume, 10_000, Self.london)
        #expect(decision?.to == Self.london)
        guard case .coAccessTaken(Self.london, let taken)? = decision?.reason else {
            Issue.record("expected a co-access move on blocks taken, got \(String(describing: decision))")
            return
        }
        #expect(taken >= HolderPolicy.adaptiveTakenBlocks)
    }

    /// A block moved on a prediction stays reserved: the rates do not send it back meanwhile.
    @Test func aReservedBlockStays() {
        var volume = HolderPolicy.VolumeStats()
        var block = HolderPolicy.Stats()
        block.reservedUntil = .ms(600_000)
        let early = (0..<20).map { Self.observe(&block, &volume, Double($0) * 100, Self.sydney) }
        #expect(early.allSatisfy { $0 == nil })
        let after = (0..<3).map { Self.observe(&block, &volume, 600_001 + Double($0) * 100, Self.sydney) }
        #expect(after.compactMap { $0 }.first?.to == Self.sydney, "after the reservation the rates decide again")
    }
}

/// Adaptive's judgement of a volume's blocks: shared (most operations on blocks several
/// regions use) or each region's own, and a region that took a volume over.
@Suite struct VolumeJudgementTests {
    static let nyc = AdaptivePolicyTests.nyc
    static let london = AdaptivePolicyTests.london
    static let sydney = AdaptivePolicyTests.sydney
    static let policy = HolderPolicy(name: .adaptive)

    /// A log's head: every block written by New York and London in turn. A new head that
    /// London happens to write first three times does not move: the volume's blocks are shared.
    @Test func aNewBlockOfASharedVolumeNeedsEvidence() {
        var volume = HolderPolicy.VolumeStats()
        for b in 0..<20 {
            var block = HolderPolicy.Stats()
            for k in 0..<10 {
                _ = CoAccessTests.observe(&block, &volume, Double(b * 1000 + k * 100), k % 2 == 0 ? Self.nyc : Self.london)
            }
        }
        #expect(volume.blocksShared)
        var head = HolderPolicy.Stats()
        let d = (0..<2).map { CoAccessTests.observe(&head, &volume, 20_000 + Double($0) * 50, Self.london) }
        #expect(d.allSatisfy { $0 == nil })
    }

    /// A user who moves from New York to Sydney: once the volume's last 32 operations here all
    /// came from Sydney, the long-term counts of New York no longer hold the blocks back, and
    /// every block of the volume goes.
    @Test func aRegionThatTookTheVolumeOverTakesEveryBlock() {
        var volume = HolderPolicy.VolumeStats()
        var blocks = [HolderPolicy.Stats](repeating: HolderPolicy.Stats(), count: 8)
        for k in 0..<400 { _ = CoAccessTests.observe(&blocks[k % 8], &volume, Double(k) * 200, Self.nyc) }
        var decisions: [HolderPolicy.HandOver?] = []
        for k in 0..<40 { decisions.append(CoAccessTests.observe(&blocks[k % 8], &volume, 80_000 + Double(k) * 200, Self.sydney)) }
        let first = decisions.firstIndex { $0 != nil }
        #expect(first.map { $0 >= HolderPolicy.adaptiveShiftRun - 1 } ?? false, "not before the run is long enough")
        guard let i = first, let decision = decisions[i] else {
            Issue.record("Sydney took the volume over: its blocks should move")
            return
        }
        #expect(decision.to == Self.sydney && decision.join == .shifted)
    }
}

/// When a node's own clients use a block, and when it is due to come here.
@Suite struct ActivityProfileTests {
    static let hour: Int64 = 3_600_000
    static let day: Int64 = 24 * hour

    /// Used 09:00–17:00 yesterday: due at the 09:00 slot today, not at 09:15 or 13:00.
    @Test func aDailyStartIsDueAtTheSameTimeNextDay() {
        var profile = ActivityProfile()
        for minute in stride(from: Int64(0), to: 8 * 60, by: 5) { profile.record(wallMs: 9 * Self.hour + minute * 60_000) }
        let nine = ActivityProfile.slot(wallMs: Self.day + 9 * Self.hour)
        #expect(profile.due(at: nine) == 1)
        #expect(profile.due(at: nine + 1) == nil)
        #expect(profile.due(at: nine + 16) == nil)
        #expect(profile.due(at: nine - 4) == nil)
    }

    /// With a week of history, the same weekday decides: a Saturday without use predicts none.
    @Test func aWeekOfHistoryPredictsByWeekday() {
        var profile = ActivityProfile()
        // Used at 09:00 on days 0–4 (Monday–Friday), not on days 5 and 6.
        for d in Int64(0)..<5 { profile.record(wallMs: d * Self.day + 9 * Self.hour) }
        profile.record(wallMs: 6 * Self.day + 20 * Self.hour)
        #expect(profile.due(at: ActivityProfile.slot(wallMs: 7 * Self.day + 9 * Self.hour)) == 7, "Monday, from last Monday")
        #expect(profile.due(at: ActivityProfile.slot(wallMs: 12 * Self.day + 9 * Self.hour)) == nil, "Saturday, from last Saturday")
    }

    @Test func oldSlotsAreForgotten() {
        var profile = ActivityProfile()
        profile.record(wallMs: 0)
        profile.record(wallMs: 9 * Self.day)
        #expect(!profile.used(0) && profile.used(ActivityProfile.slot(wallMs: 9 * Self.day)))
    }
}

/// The never-used-neighbours rule's window (`HolderPolicy.freshWindow`).
@Suite struct FreshWindowTests {
    static func touches(_ indices: [UInt64]) -> HolderPolicy.FreshTouches {
        var fresh = HolderPolicy.FreshTouches()
        for (n, i) in indices.enumerated() { fresh.touch(i, now: .ms(Double(n) * 50)) }
        return fresh
    }

    @Test func aTightClusterInALargeNeverUsedRunMovesItsLikelyRange() {
        // Blocks 0–255 used by others; 256–1023 never used.
        let free = { (i: UInt64) in i >= 256 }
        #expect(HolderPolicy.freshWindow(Self.touches([500]), blockCount: 1024, free: free) == nil, "one first use says nothing of a range")
        let two = HolderPolicy.freshWindow(Self.touches([500, 504]), blockCount: 1024, free: free)
        #expect(two?.window == 496...508, "twice the span beyond each end at k = 2")
        let three = HolderPolicy.freshWindow(Self.touches([500, 504, 508]), blockCount: 1024, free: free)
        #expect(three?.window == 496...512, "half the span beyond each end at k = 3")
        // Never past a block someone else used.
        let edge = HolderPolicy.freshWindow(Self.touches([258, 262]), blockCount: 1024, free: free)
        #expect(edge?.window == 256...266)
    }

    @Test func scatteredFirstUsesOrASmallRunDoNotFire() {
        let free = { (_: UInt64) in true }
        #expect(HolderPolicy.freshWindow(Self.touches([100, 700]), blockCount: 1024, free: free) == nil)
        #expect(HolderPolicy.freshWindow(Self.touches([100, 400, 900]), blockCount: 1024, free: free) == nil)
        // Two first uses 4 apart in a run of 40: as likely as not by chance.
        let small = { (i: UInt64) in i < 40 }
        #expect(HolderPolicy.freshWindow(Self.touches([10, 14]), blockCount: 1024, free: small) == nil)
        // A block between them that another region used: not one region's run.
        let gap = { (i: UInt64) in i != 502 }
        #expect(HolderPolicy.freshWindow(Self.touches([500, 504]), blockCount: 1024, free: gap) == nil)
    }

    @Test func oldFirstUsesAreForgotten() {
        var fresh = HolderPolicy.FreshTouches()
        fresh.touch(500, now: .ms(0))
        fresh.touch(900, now: .ms(HolderPolicy.adaptiveLongHalfLifeMs + 1))
        #expect(fresh.touches.map(\.index) == [900])
    }
}
