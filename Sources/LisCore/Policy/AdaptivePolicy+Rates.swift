/// `adaptive`'s rates per block and per volume, its decision for one operation, and which of
/// a volume's blocks move together.
extension AdaptivePolicy {
    /// Adaptive, per volume at a holder: the volume's operations served here per region, and
    /// how many of its blocks this holder handed to each region lately (co-access).
    public struct VolumeStats: Sendable, Equatable {
        var rates = RegionRates()
        var taken = RegionRates()
        /// Per region, its operations here that landed on a block a co-access move to it would
        /// have taken along at the time (`joinsMove`, judged before the operation counted): how
        /// often its operations land on the blocks such a move carries. A region that writes
        /// each block once, somewhere new each time, has none, however busy it is.
        var inGroup = RegionRates()
        /// The region of the volume's latest operations here, and how many in a row.
        var runRegion: RegionID?
        var runLength = 0
        /// Decayed counts (long half-life) of the volume's operations here, and of those that
        /// landed on a block other regions use too: whether its blocks are shared or each
        /// region has its own.
        var served = 0.0
        var onShared = 0.0
        var countedAt: Instant?
        /// Per region: its first uses of never-used blocks here (never-used neighbours).
        var fresh: [RegionID: FreshTouches] = [:]
        public init() {}

        mutating func count(_ origin: RegionID, contested: Bool, now: Instant, _ s: Settings) {
            if runRegion == origin { runLength += 1 } else { (runRegion, runLength) = (origin, 1) }
            if let at = countedAt, now > at {
                let f = Math.power(0.5, (now - at).ms / s.longHalfLifeMs)
                served *= f
                onShared *= f
            }
            countedAt = max(countedAt ?? now, now)
            served += 1
            if contested { onShared += 1 }
        }

        /// Most of the volume's operations here land on blocks several regions use.
        var blocksShared: Bool { onShared >= 0.5 * served }

        /// The volume's latest operations here all came from `region`: it took the volume over.
        func shifted(to region: RegionID, _ s: Settings) -> Bool { runRegion == region && runLength >= s.shiftRun }

        /// Which of the volume's blocks held here a co-access move to `t` takes along (`JoinRule`):
        /// all of them once t took the volume over; else those t alone uses (with enough
        /// operations when the volume's blocks are shared), and the idle ones only when t made
        /// nearly all of the volume's long-term use here.
        func joinRule(to t: RegionID, _ s: Settings) -> JoinRule {
            let long = rates.long.total
            if shifted(to: t, s) { return .shifted }
            return .uncontested(idle: long - (rates.long[t] ?? 0) < s.contested * long, evidence: blocksShared ? s.evidence : 0)
        }

        /// Counts a block of the volume handed over to `region`.
        mutating func handedOver(to region: RegionID, now: Instant, _ s: Settings) { taken.add(region, now: now, s) }
    }

}

/// Adaptive: operations per region of origin, counted with exponential decay on two
/// timescales (`shortHalfLifeMs`, `longHalfLifeMs` of `PolicySettings.Adaptive`). Kept per
/// block and, at each holder, per volume (what its blocks served here see together); a
/// hand-over carries a block's to its next holder.
public struct RegionRates: Sendable, Hashable, CustomStringConvertible, Codable {
    var short: [RegionID: Double] = [:]
    var long: [RegionID: Double] = [:]
    /// As of when, on this node's clock (a hand-over sends counts decayed to the moment it
    /// leaves, and the receiver dates them with its own clock).
    var at: Instant?
    public init() {}

    mutating func decay(to now: Instant, _ s: AdaptivePolicy.Settings) {
        if let at, now > at {
            let fs = Math.power(0.5, (now - at).ms / s.shortHalfLifeMs)
            let fl = Math.power(0.5, (now - at).ms / s.longHalfLifeMs)
            short = short.mapValues { $0 * fs }
            long = long.mapValues { $0 * fl }
        }
        at = max(at ?? now, now)
    }

    mutating func add(_ origin: RegionID, now: Instant, _ s: AdaptivePolicy.Settings) {
        decay(to: now, s)
        short[origin, default: 0] += 1
        long[origin, default: 0] += 1
    }

    /// Operations per second from each region: a decayed count over a half-life h is a
    /// rate of count × ln 2 / h.
    func shortRates(_ s: AdaptivePolicy.Settings) -> [RegionID: Double] {
        short.mapValues { $0 * 0.6931471805599453 / (s.shortHalfLifeMs / 1000) }
    }

    /// In region order, so that event traces print the same way on every run.
    public var description: String {
        func counts(_ c: [RegionID: Double]) -> String { c.sorted(by: { $0.key < $1.key }).map { "\($0.key): \($0.value)" }.joined(separator: ", ") }
        return "RegionRates(short: [\(counts(short))], long: [\(counts(long))], at: \(at.map { "\($0)" } ?? "nil"))"
    }

    /// Less than half an operation left on the long timescale: nobody uses the block lately.
    var isIdle: Bool { long.total < 0.5 }

    /// At least half an operation of `region`'s left on the long timescale: it used the block
    /// lately (the converse of `isIdle`, for one region).
    func usedLately(by region: RegionID) -> Bool { (long[region] ?? 0) >= 0.5 }

    /// Regions other than `region` made at least `contested` of the counts.
    static func contested(_ counts: [RegionID: Double], for region: RegionID, _ s: AdaptivePolicy.Settings) -> Bool {
        let total = counts.total
        return total > 0 && total - (counts[region] ?? 0) >= s.contested * total
    }
}

extension AdaptivePolicy {
    /// Which of the volume's other blocks go along when a co-access decision moves it to t.
    public enum JoinRule: Sendable, Equatable {
        /// The volume's latest operations here all came from t (it took the volume over):
        /// every block goes.
        case shifted
        /// A block goes if t made ≥ 90 % of its long-term use, at least `evidence` operations
        /// (when the volume's blocks are shared, one operation says little), or — with `idle`
        /// — if nobody used it lately.
        case uncontested(idle: Bool, evidence: Double)
    }

    /// Moves the block when the latency its operations would save over the horizon, at the
    /// rates measured, beats what the move costs — with hysteresis, so two regions that share a
    /// block evenly leave it where it is.
    ///
    /// * rate_r: operations from region r per second, from counts decayed with a 10 s
    ///   half-life (short) and a 2 min half-life (long);
    /// * latency(r, h): what an operation from r costs when the block is held in h — the RTT
    ///   between them plus the holder's local latency; mean(h): the rate-weighted mean;
    /// * saving(t) = (mean(here) − mean(t)) × Σ rates × horizon (60 s), at the short rates;
    /// * move duration ≈ two round trips between t and Hive (the claim and the activation, as
    ///   t measured its Hive calls; the topology's until it has) + the fence's round trip
    ///   between t and here + the block over the WAN; the cost is that duration (as if one
    ///   operation waited through it) plus the operations that arrive during the move waiting
    ///   half of it on average.
    /// Moves to the target with the largest net saving when saving ≥ 2 × cost and the target's
    /// mean latency is ≤ 0.8 × the current one at both the short and the long rates — decided
    /// only on an operation whose region had used the block lately (`returning`): one operation
    /// measures no rate (the rates would be the half-life's guess), and a block moved on a
    /// region's single use is the next user's to take back.
    ///
    /// Co-access: when the block's own rates do not decide (each block of a shared workspace
    /// may be written once every few minutes), the volume's do: if the operations from the
    /// operation's region t on all the volume's blocks served here would save, at the short
    /// rates, twice a move's cost, the block moves to t together with the volume's other blocks
    /// held here that t alone uses or nobody uses lately (`joinsMove`) — provided this block is
    /// one of them.
    func decide(
        _ rates: RegionRates, volume: VolumeStats, origin: RegionID, returning: Bool, holderRegion: RegionID,
        candidates: [RegionID], rttMs: (RegionID, RegionID) -> Double, costs: MoveCosts, explain: Bool
    ) -> (HandOverDecision?, declined: DeclineReason?) {
        func latency(_ r: RegionID, _ h: RegionID) -> Double { (r == h ? 0 : rttMs(r, h)) + costs.localMs }
        func mean(_ counts: [RegionID: Double], _ h: RegionID) -> Double {
            counts.sorted(by: { $0.key < $1.key }).reduce(0) { $0 + $1.value * latency($1.key, h) } / max(counts.total, .leastNormalMagnitude)
        }
        func moveCost(_ t: RegionID, rate: Double) -> Double {
            let moveMs = Self.moveMs(to: t, from: holderRegion, rttMs: rttMs, costs: costs, settings)
            return moveMs + rate * moveMs / 1000 * moveMs / 2
        }
        func mix(_ rates: RegionRates) -> [RegionRate] {
            rates.shortRates(settings).sorted { $0.key < $1.key }.map { RegionRate($0.key, $0.value) }
        }
        let horizon = settings.horizonMs
        // The block's own rates: each candidate, and why it fails if it does.
        let short = rates.shortRates(settings)
        let total = short.total
        let here = mean(short, holderRegion)
        let hereLong = mean(rates.long, holderRegion)
        let longTotal = rates.long.total
        func evaluate(_ t: RegionID) -> (there: Double, saving: Double, cost: Double, failure: DeclineReason?) {
            let there = mean(short, t)
            // A region that took the volume over is judged on the short-term rates alone: the
            // long-term ones remember a user who has left.
            let shifted = volume.shifted(to: t, settings)
            let saving = (here - there) * total * settings.horizonMs / 1000
            let cost = moveCost(t, rate: total)
            if saving < settings.margin * cost {
                return (there, saving, cost, .savesTooLittle(savingMs: saving, horizonMs: horizon, margin: settings.margin, costMs: cost))
            }
            if there > settings.improvement * here {
                return (there, saving, cost, .slowerThere(thereMs: there, improvement: settings.improvement, hereMs: here))
            }
            if shifted { return (there, saving, cost, nil) }
            // A block with a few operations says little when most of the volume's operations
            // land on blocks several regions share (a log's head, a shared table).
            if volume.blocksShared, longTotal < settings.evidence {
                return (there, saving, cost, .tooFewOperations(count: longTotal, evidence: settings.evidence))
            }
            let thereLong = mean(rates.long, t)
            if thereLong > settings.improvement * hereLong {
                return (there, saving, cost, .slowerThereLongTerm(thereMs: thereLong, improvement: settings.improvement, hereMs: hereLong))
            }
            // Contested: other regions made ≥ 10 % of the long-term use. Then the move must pay
            // off at the long-term rates too, so a turn taken on a shared block, or a burst of
            // chance, does not move it.
            let others = longTotal - (rates.long[t] ?? 0)
            if others >= settings.contested * longTotal {
                let longRate = longTotal * 0.6931471805599453 / (settings.longHalfLifeMs / 1000)
                let longSaving = (hereLong - thereLong) * longRate * settings.horizonMs / 1000
                if longSaving < settings.margin * cost {
                    return (there, saving, cost, .contested(
                        othersPercent: 100 * others / longTotal, longSavingMs: longSaving, margin: settings.margin, costMs: cost))
                }
            }
            return (there, saving, cost, nil)
        }
        // One operation measures no rate: a candidate that passes on the block's own rates wins it
        // only on an operation whose region had used the block lately.
        func judge(_ t: RegionID) -> (there: Double, saving: Double, cost: Double, failure: DeclineReason?) {
            let e = evaluate(t)
            guard e.failure == nil, !returning else { return e }
            return (e.there, e.saving, e.cost, .firstOperation(
                region: origin, savingMs: e.saving, horizonMs: horizon, margin: settings.margin, costMs: e.cost))
        }
        // Co-access for region t: which of the volume's blocks here would go with a move, whether
        // this block is one of them, and what moving them saves and costs. The saving counts only
        // t's operations that landed on such blocks (`VolumeStats.inGroup`): a move saves on the
        // operations that come to the blocks it carries, and t's operations on blocks that would
        // not have gone (each a block it had not used, say) are no evidence that any will.
        func coAccess(_ t: RegionID) -> (rule: JoinRule, joins: Bool, rate: Double, saving: Double, cost: Double) {
            let rate = volume.inGroup.shortRates(settings)[t] ?? 0
            let rule = volume.joinRule(to: t, settings)
            let saving = rate * (latency(t, holderRegion) - latency(t, t)) * settings.horizonMs / 1000
            return (rule, joinsMove(rates, to: t, rule: rule), rate, saving, moveCost(t, rate: rate))
        }
        var best: (target: RegionID, there: Double, saving: Double, cost: Double)?
        for t in candidates where t != holderRegion {
            let e = judge(t)
            if e.failure == nil, e.saving - e.cost > (best.map { $0.saving - $0.cost } ?? 0) { best = (t, e.there, e.saving, e.cost) }
        }
        if let b = best {
            var decision = HandOverDecision(
                to: b.target,
                reason: .adaptive(hereMs: here, thereMs: b.there, rates: mix(rates), savingMs: b.saving, horizonMs: horizon, costMs: b.cost))
            // Blocks used together move together, whichever rule moves the first: when the
            // volume's operations from the target would pay for a move too, the volume's other
            // blocks it alone uses (or nobody uses) go with this one.
            if predictive, b.target == origin {
                let c = coAccess(b.target)
                if c.joins, c.saving >= settings.margin * c.cost {
                    decision.withVolume = true
                    decision.join = c.rule
                }
            }
            return (decision, nil)
        }
        // The volume: if what the operation's region does on the volume's blocks here would
        // save pays for a move, the blocks it alone uses go there.
        let t = origin
        guard t != holderRegion, candidates.contains(t) else { return (nil, nil) }
        guard predictive else {
            return (nil, explain ? .noCoAccess(judge(t).failure ?? .anotherSavesMore) : nil)
        }
        let (rule, joins, rate, saving, cost) = coAccess(t)
        if joins, saving >= settings.margin * cost {
            return (HandOverDecision(
                to: t,
                reason: .coAccess(region: t, perSecond: rate, volumeRates: mix(volume.rates), savingMs: saving, horizonMs: horizon, costMs: cost),
                withVolume: true, join: rule), nil)
        }
        // The region has been taking this volume's blocks from here (a working set on the move):
        // a block only it uses goes too, on its first operations.
        let taken = volume.taken.long[t] ?? 0
        if joins, taken >= settings.takenBlocks {
            return (HandOverDecision(
                to: t,
                reason: .coAccessTaken(region: t, blocks: taken)), nil)
        }
        guard explain else { return (nil, nil) }
        let own = judge(t).failure ?? .anotherSavesMore
        if joins {
            return (nil, .coAccessShort(
                own, region: t, perSecond: rate, savingMs: saving, margin: settings.margin, costMs: cost, taken: taken,
                takenNeeded: settings.takenBlocks, rates: mix(rates)))
        }
        return (nil, .notAlone(own, region: t, volumeShared: volume.blocksShared, rates: mix(rates)))
    }

    /// How long moving a block from `holder` to `t` takes: t's two round trips to Hive (claim,
    /// activation), the fence's round trip to the holder, and the block over the WAN. Without
    /// a Hive round trip for t, Hive counts as beside the holder.
    static func moveMs(
        to t: RegionID, from holder: RegionID, rttMs: (RegionID, RegionID) -> Double, costs: MoveCosts, _ s: Settings
    ) -> Double {
        let fence = rttMs(t, holder)
        let hive = costs.hiveRttMs[t] ?? fence
        return 2 * hive + fence + Double(costs.blockBytes) / s.wanBytesPerMs
    }

    func joinsMove(_ rates: RegionRates, to target: RegionID, rule: JoinRule) -> Bool {
        switch rule {
        case .shifted:
            return true
        case .uncontested(let idle, let evidence):
            if rates.isIdle { return idle }
            return !RegionRates.contested(rates.long, for: target, settings) && (rates.long[target] ?? 0) >= evidence
        }
    }
}

extension Dictionary where Key == RegionID, Value == Double {
    /// The sum of the values, in region order: a dictionary's order differs from one instance
    /// to the next, floating-point sums depend on the order, and the same seed must replay the
    /// same decisions.
    var total: Double { sorted(by: { $0.key < $1.key }).reduce(0) { $0 + $1.value } }
}
