@testable import LisCore
import Testing

/// The count-based baselines, one operation at a time, as the holder sees them.
@Suite struct BaselinePolicyTests {
    static let nyc = RegionID("nyc")
    static let london = RegionID("london")
    static let sydney = RegionID("sydney")
    static let all = [nyc, london, sydney]

    static func rtt(_ a: RegionID, _ b: RegionID) -> Double { a == b ? 0.5 : 100 }

    static let key = BlockKey(VolumeName("vm"), BlockID(0))

    static func operation(_ t: Double, _ origin: RegionID, holder: RegionID = nyc) -> ServedOperation {
        ServedOperation(key: key, origin: origin, holderRegion: holder, candidates: all, now: .ms(t), rttMs: rtt)
    }

    static func run<P: PlacementPolicy>(_ policy: P, _ ops: [(Double, RegionID)], holder: RegionID = nyc) -> [HandOverDecision?] {
        var policy = policy
        var stats = policy.startTerm(carried: nil, reservedUntil: nil)
        return ops.map { (t, origin) in policy.observe(&stats, operation(t, origin, holder: holder)).handOver }
    }

    @Test func wpaxosConsecutiveMovesAfterThreeInARow() {
        let interleaved = Self.run(WPaxosConsecutive(), [(0, Self.london), (1, Self.london), (2, Self.nyc), (3, Self.london), (4, Self.london)])
        #expect(interleaved.allSatisfy { $0 == nil }, "a local operation breaks the run")
        let run = Self.run(WPaxosConsecutive(), [(0, Self.london), (1, Self.london), (2, Self.london)])
        #expect(run[0] == nil && run[1] == nil)
        #expect(run[2]?.to == Self.london)
        #expect(Self.run(WPaxosConsecutive(), [(0, Self.nyc), (1, Self.nyc), (2, Self.nyc)]).allSatisfy { $0 == nil }, "never to itself")
    }

    @Test func wpaxosMajorityJudgesEachIntervalWhenItEnds() {
        // 0–3 s: london 2 of 3 — judged at the first access after the interval.
        let moved = Self.run(WPaxosMajority(), [(0, Self.london), (1000, Self.nyc), (2000, Self.london), (3000, Self.nyc)])
        #expect(moved[0...2].allSatisfy { $0 == nil })
        #expect(moved[3]?.to == Self.london)
        // Half is not a majority.
        let tie = Self.run(WPaxosMajority(), [(0, Self.london), (1000, Self.nyc), (3000, Self.nyc)])
        #expect(tie.allSatisfy { $0 == nil })
    }

    @Test func crdbWaitsThirtySecondsThenComparesWeightedCounts() {
        // One London request per second, none local.
        var ops = (0..<40).map { (Double($0) * 1000, Self.london) }
        let decisions = Self.run(CrdbFollowTheWorkload(), ops)
        #expect(decisions[0..<30].allSatisfy { $0 == nil }, "no decision on less than 30 s of statistics")
        // At 30 s: log10(31 / 1) × ln(1 + 100) ≈ 6.9 > 0.1.
        #expect(decisions[30]?.to == Self.london)
        // Balanced load stays: never more remote than local requests → the score is ≤ 0.
        ops = (0..<60).map { (Double($0) * 1000, $0 % 2 == 0 ? Self.nyc : Self.london) }
        #expect(Self.run(CrdbFollowTheWorkload(), ops).allSatisfy { $0 == nil })
        // A small lead is enough once RTT weighs it: 16 vs 15 → log10(16/15) × ln(101) ≈ 0.13.
        ops = (0..<31).map { (Double($0) * 1000, $0 % 2 == 0 ? Self.london : Self.nyc) }
        #expect(Self.run(CrdbFollowTheWorkload(), ops)[30]?.to == Self.london)
    }

    @Test func crdbCountsDecayEveryFiveMinutes() {
        let policy = CrdbFollowTheWorkload()
        var stats = CrdbFollowTheWorkload.BlockStats()
        for i in 0..<10 { _ = policy.observe(&stats, Self.operation(Double(i), Self.nyc)) }
        _ = policy.observe(&stats, Self.operation(600_000, Self.london))
        // Two windows later the ten local requests weigh 10 × 0.8² = 6.4.
        #expect(abs((stats.counts[Self.nyc] ?? 0) - 6.4) < 1e-9)
        #expect(stats.counts[Self.london] == 1)
    }

    @Test func staticAndTiersNeverHandOver() {
        #expect(Self.run(StaticPlacement(), (0..<100).map { (Double($0) * 1000, Self.london) }).allSatisfy { $0 == nil })
        let tiers = TiersPolicy(migration: MigrationConfig(), policy: PolicyConfig())
        #expect(!tiers.decidesAtHolder && !StaticPlacement().decidesAtHolder && tiers.decidesAtOrigin)
    }

    /// Each name gives its own policy, with the settings of `[policy]`.
    @Test func namesGiveTheirPolicies() {
        var settings = PolicySettings()
        settings.wpaxos.run = 5
        let made = PolicyName.allCases.map { $0.placement(settings: settings, migration: MigrationConfig(), policy: PolicyConfig()) }
        #expect(made.map(\.name) == [.static, .tiers, .crdbFtw, .wpaxosConsecutive, .wpaxosMajority, .adaptive, .oracle])
        #expect((made[3] as? WPaxosConsecutive)?.settings.run == 5)
        let five = Self.run(WPaxosConsecutive(settings.wpaxos), (0..<5).map { (Double($0), Self.london) })
        #expect(five[3] == nil && five[4]?.to == Self.london, "a settable run")
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

    static let settings = AdaptivePolicy.Settings()

    static func operation(_ t: Double, _ origin: RegionID, block: UInt64 = 0) -> ServedOperation {
        ServedOperation(
            key: BlockKey(VolumeName("vm"), BlockID(block)), origin: origin, holderRegion: nyc, candidates: all, now: .ms(t),
            rttMs: rtt, costs: MoveCosts(localMs: 0.05, blockBytes: 1 << 20))
    }

    /// One block judged on its own rates: before each operation the volume's state is the
    /// block's alone (its rates, no run of one region, nothing handed over), so neither a
    /// region's run on the volume nor co-access decides here (CoAccessTests and
    /// VolumeJudgementTests do).
    static func run(_ ops: [(Double, RegionID)]) -> [HandOverDecision?] {
        var stats = AdaptivePolicy.BlockStats()
        return ops.map { (t, origin) in
            var policy = AdaptivePolicy()
            var alone = AdaptivePolicy.VolumeStats()
            alone.rates = stats.rates
            policy.volumes[VolumeName("vm")] = alone
            return policy.observe(&stats, operation(t, origin)).handOver
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
        #expect(thereMs < hereMs && savingMs >= AdaptivePolicyTests.settings.margin * costMs)
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
    /// One operation on one block of the volume `vm`, whose state per volume `policy` keeps.
    static func observe(_ policy: inout AdaptivePolicy, _ stats: inout AdaptivePolicy.BlockStats, _ t: Double, _ origin: RegionID)
        -> HandOverDecision?
    {
        policy.observe(&stats, AdaptivePolicyTests.operation(t, origin)).handOver
    }

    /// Sydney writes 32 blocks of a volume, each once: no block's own rate justifies a move, the
    /// volume's does — and the decision takes along the volume's blocks Sydney alone uses.
    @Test func aRegionBusyOnTheVolumeTakesItsBlocks() {
        var policy = AdaptivePolicy()
        var blocks = [AdaptivePolicy.BlockStats](repeating: AdaptivePolicy.BlockStats(), count: 32)
        var decisions: [HandOverDecision?] = []
        for i in 0..<32 { decisions.append(Self.observe(&policy, &blocks[i], Double(i) * 250, Self.sydney)) }
        #expect(decisions[0] == nil, "one operation on the volume is not enough")
        let first = decisions.firstIndex { $0 != nil }
        #expect(first.map { $0 < 10 } ?? false, "a few operations/s on the volume are")
        guard let i = first, let decision = decisions[i] else { return }
        #expect(decision.to == Self.sydney && decision.withVolume && decision.join == .uncontested(idle: true, evidence: 0))
        guard case .coAccess(let region, _, _, let savingMs, _, let costMs) = decision.reason else {
            Issue.record("expected co-access, got \(decision.reason)")
            return
        }
        #expect(region == Self.sydney && savingMs >= AdaptivePolicyTests.settings.margin * costMs)
        // Another block Sydney alone used goes along; one New York uses too does not.
        var sydneyOnly = blocks[0]
        #expect(policy.joins(&sydneyOnly, decision, now: .ms(Double(i) * 250)))
        var shared = AdaptivePolicy.BlockStats()
        for k in 0..<5 { _ = Self.observe(&policy, &shared, Double(i) * 250 + Double(k), k % 2 == 0 ? Self.nyc : Self.sydney) }
        #expect(!policy.joins(&shared, decision, now: .ms(Double(i) * 250 + 10)))
    }

    /// `predictive_migration = false`: the same operations move no block ahead of its own
    /// demand — no co-access decision, each block's own rate decides.
    @Test func withoutPredictiveMigrationNoCoAccessMove() {
        var policy = AdaptivePolicy(predictive: false)
        var blocks = [AdaptivePolicy.BlockStats](repeating: AdaptivePolicy.BlockStats(), count: 32)
        for i in 0..<32 {
            let decision = Self.observe(&policy, &blocks[i], Double(i) * 250, Self.sydney)
            #expect(decision == nil, "block \(i) moved on the volume's behalf")
        }
    }

    /// Two regions that share a volume do not swap its idle blocks: a co-access decision made
    /// while the holder's region also uses the volume takes only blocks the target alone uses.
    @Test func idleBlocksStayWhenTheVolumeIsShared() {
        var policy = AdaptivePolicy()
        var local = AdaptivePolicy.BlockStats()
        for k in 0..<40 { _ = Self.observe(&policy, &local, Double(k) * 100, Self.nyc) }
        // London comes back to the 80 blocks it writes, each too rarely for its own rate to move
        // it, while New York goes on using the volume.
        var blocks = [AdaptivePolicy.BlockStats](repeating: AdaptivePolicy.BlockStats(), count: 80)
        var decisions: [HandOverDecision?] = []
        for i in 0..<200 {
            let t = 4000 + Double(i) * 250
            if i % 4 == 0 { _ = Self.observe(&policy, &local, t - 125, Self.nyc) }
            decisions.append(Self.observe(&policy, &blocks[i % 80], t, Self.london))
        }
        let first = decisions.firstIndex { $0 != nil }
        #expect(first.map { $0 >= 80 } ?? false, "not before London came back to a block")
        guard let i = first, let decision = decisions[i] else {
            Issue.record("London's operations on the blocks it alone uses should move them")
            return
        }
        #expect(decision.withVolume && decision.join == .uncontested(idle: false, evidence: 0))
        var idle = AdaptivePolicy.BlockStats()
        #expect(!policy.joins(&idle, decision, now: .ms(4000 + Double(i) * 250)))
    }

    /// A region that writes each block once, somewhere new each time, while the holder's region
    /// uses the volume: however busy, none of its operations came to a block a move would carry,
    /// so nothing says a move would save anything, and no block moves.
    @Test func aRegionThatNeverComesBackTakesNothing() {
        var policy = AdaptivePolicy()
        var local = AdaptivePolicy.BlockStats()
        for k in 0..<40 { _ = Self.observe(&policy, &local, Double(k) * 100, Self.nyc) }
        var blocks = [AdaptivePolicy.BlockStats](repeating: AdaptivePolicy.BlockStats(), count: 200)
        var decisions: [HandOverDecision?] = []
        for i in 0..<200 {
            let t = 4000 + Double(i) * 100
            if i % 4 == 0 { _ = Self.observe(&policy, &local, t - 50, Self.nyc) }
            decisions.append(Self.observe(&policy, &blocks[i], t, Self.london))
        }
        #expect(decisions.allSatisfy { $0 == nil })
    }

    /// With Hive beside London a move there is cheap enough that one operation's rate (the
    /// half-life's guess) would pay for it: the block still stays until London comes back to it.
    @Test func oneOperationMovesNoBlock() {
        var policy = AdaptivePolicy()
        var block = AdaptivePolicy.BlockStats()
        func observe(_ t: Double) -> PlacementVerdict {
            var op = AdaptivePolicyTests.operation(t, Self.london)
            op.costs = MoveCosts(localMs: 0.05, blockBytes: 1 << 20, hiveRttMs: [Self.london: 0.5])
            return policy.observe(&block, op)
        }
        let first = observe(0)
        #expect(first.handOver == nil)
        // The block's own test, under what co-access adds to it.
        var own = first.declined?.reason
        if case .coAccessShort(let test, _, _, _, _, _, _, _, _)? = own { own = test }
        guard case .firstOperation(Self.london, _, _, _, _)? = own else {
            Issue.record("expected the first operation to be recorded as the reason, got \(String(describing: first.declined))")
            return
        }
        #expect(observe(1000).handOver?.to == Self.london, "London came back: its rate decides")
    }

    /// Once a region has taken several of a volume's blocks, a block only it uses goes on its
    /// first operation.
    @Test func aRegionTakingTheVolumeTakesTheNextBlockAtOnce() {
        var policy = AdaptivePolicy()
        for k in 0..<4 { policy.handedOver(BlockKey(VolumeName("vm"), BlockID(UInt64(k + 1))), to: Self.london, now: .ms(Double(k))) }
        var block = AdaptivePolicy.BlockStats()
        let decision = Self.observe(&policy, &block, 10_000, Self.london)
        #expect(decision?.to == Self.london)
        guard case .coAccessTaken(Self.london, let taken)? = decision?.reason else {
            Issue.record("expected a co-access move on blocks taken, got \(String(describing: decision))")
            return
        }
        #expect(taken >= AdaptivePolicyTests.settings.takenBlocks)
    }

    /// A block moved on a prediction stays reserved: the rates do not send it back meanwhile.
    @Test func aReservedBlockStays() {
        var policy = AdaptivePolicy()
        var block = policy.startTerm(carried: nil, reservedUntil: .ms(600_000))
        let early = (0..<20).map { Self.observe(&policy, &block, Double($0) * 100, Self.sydney) }
        #expect(early.allSatisfy { $0 == nil })
        let after = (0..<3).map { Self.observe(&policy, &block, 600_001 + Double($0) * 100, Self.sydney) }
        #expect(after.compactMap { $0 }.first?.to == Self.sydney, "after the reservation the rates decide again")
    }
}

/// Adaptive's judgement of a volume's blocks: shared (most operations on blocks several
/// regions use) or each region's own, and a region that took a volume over.
@Suite struct VolumeJudgementTests {
    static let nyc = AdaptivePolicyTests.nyc
    static let london = AdaptivePolicyTests.london
    static let sydney = AdaptivePolicyTests.sydney
    /// A log's head: every block written by New York and London in turn. A new head that
    /// London happens to write first three times does not move: the volume's blocks are shared.
    @Test func aNewBlockOfASharedVolumeNeedsEvidence() {
        var policy = AdaptivePolicy()
        for b in 0..<20 {
            var block = AdaptivePolicy.BlockStats()
            for k in 0..<10 {
                _ = CoAccessTests.observe(&policy, &block, Double(b * 1000 + k * 100), k % 2 == 0 ? Self.nyc : Self.london)
            }
        }
        #expect(policy.volumes[VolumeName("vm")]?.blocksShared == true)
        var head = AdaptivePolicy.BlockStats()
        let d = (0..<2).map { CoAccessTests.observe(&policy, &head, 20_000 + Double($0) * 50, Self.london) }
        #expect(d.allSatisfy { $0 == nil })
    }

    /// A user who moves from New York to Sydney: once the volume's last 32 operations here all
    /// came from Sydney, the long-term counts of New York no longer hold the blocks back, and
    /// every block of the volume goes.
    @Test func aRegionThatTookTheVolumeOverTakesEveryBlock() {
        var policy = AdaptivePolicy()
        var blocks = [AdaptivePolicy.BlockStats](repeating: AdaptivePolicy.BlockStats(), count: 8)
        for k in 0..<400 { _ = CoAccessTests.observe(&policy, &blocks[k % 8], Double(k) * 200, Self.nyc) }
        var decisions: [HandOverDecision?] = []
        for k in 0..<40 { decisions.append(CoAccessTests.observe(&policy, &blocks[k % 8], 80_000 + Double(k) * 200, Self.sydney)) }
        let first = decisions.firstIndex { $0 != nil }
        #expect(first.map { $0 >= AdaptivePolicyTests.settings.shiftRun - 1 } ?? false, "not before the run is long enough")
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

    /// A node that looks once a minute moves a due block at the last look that leaves the move
    /// time to finish before the slot, not earlier and not too late.
    @Test func aDueBlockMovesAtTheLastLookThatLeavesTime() {
        let move = 700.0
        #expect(!ActivityProfile.moveNow(untilSlotMs: 120_000, checkIntervalMs: 60_000, moveMs: move))
        #expect(!ActivityProfile.moveNow(untilSlotMs: 61_000, checkIntervalMs: 60_000, moveMs: move))
        #expect(ActivityProfile.moveNow(untilSlotMs: 60_500, checkIntervalMs: 60_000, moveMs: move))
        #expect(ActivityProfile.moveNow(untilSlotMs: 30_000, checkIntervalMs: 60_000, moveMs: move))
        #expect(!ActivityProfile.moveNow(untilSlotMs: 0, checkIntervalMs: 60_000, moveMs: move))
    }

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

/// The never-used-neighbours rule's window (`AdaptivePolicy.freshWindow`).
@Suite struct FreshWindowTests {
    static let settings = AdaptivePolicy.Settings()

    static func touches(_ indices: [UInt64]) -> AdaptivePolicy.FreshTouches {
        var fresh = AdaptivePolicy.FreshTouches()
        for (n, i) in indices.enumerated() { fresh.touch(i, now: .ms(Double(n) * 50), settings) }
        return fresh
    }

    static func window(_ fresh: AdaptivePolicy.FreshTouches, blockCount: UInt64, free: (UInt64) -> Bool) -> AdaptivePolicy.FreshWindow? {
        AdaptivePolicy.freshWindow(fresh, blockCount: blockCount, significance: settings.freshSignificance, free: free)
    }

    @Test func aTightClusterInALargeNeverUsedRunMovesItsLikelyRange() {
        // Blocks 0–255 used by others; 256–1023 never used.
        let free = { (i: UInt64) in i >= 256 }
        #expect(Self.window(Self.touches([500]), blockCount: 1024, free: free) == nil, "one first use says nothing of a range")
        let two = Self.window(Self.touches([500, 504]), blockCount: 1024, free: free)
        #expect(two?.window == 496...508, "twice the span beyond each end at k = 2")
        let three = Self.window(Self.touches([500, 504, 508]), blockCount: 1024, free: free)
        #expect(three?.window == 496...512, "half the span beyond each end at k = 3")
        // Never past a block someone else used.
        let edge = Self.window(Self.touches([258, 262]), blockCount: 1024, free: free)
        #expect(edge?.window == 256...266)
    }

    @Test func scatteredFirstUsesOrASmallRunDoNotFire() {
        let free = { (_: UInt64) in true }
        #expect(Self.window(Self.touches([100, 700]), blockCount: 1024, free: free) == nil)
        #expect(Self.window(Self.touches([100, 400, 900]), blockCount: 1024, free: free) == nil)
        // Two first uses 4 apart in a run of 40: as likely as not by chance.
        let small = { (i: UInt64) in i < 40 }
        #expect(Self.window(Self.touches([10, 14]), blockCount: 1024, free: small) == nil)
        // A block between them that another region used: not one region's run.
        let gap = { (i: UInt64) in i != 502 }
        #expect(Self.window(Self.touches([500, 504]), blockCount: 1024, free: gap) == nil)
    }

    @Test func oldFirstUsesAreForgotten() {
        var fresh = AdaptivePolicy.FreshTouches()
        fresh.touch(500, now: .ms(0), Self.settings)
        fresh.touch(900, now: .ms(Self.settings.longHalfLifeMs + 1), Self.settings)
        #expect(fresh.touches.map(\.index) == [900])
    }
}
