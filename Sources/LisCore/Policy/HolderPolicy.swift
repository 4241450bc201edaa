import DequeModule

/// The baselines that decide at the holder, from the regions its operations come from
/// (docs/POLICY.md gives each one's source). The holder cannot steal from itself; it hands the
/// block over: it asks a node of the chosen region to steal it (`PeerMessage.handOver`), and
/// that steal follows the protocol like any other.
public struct HolderPolicy: Sendable, Equatable {
    public let name: PolicyName

    /// CockroachDB (`kv/kvserver/replica_stats.go`, `allocator`): request counts per locality
    /// in windows rotated every 5 minutes, older windows weighing 0.8 each step; a lease moves
    /// when log10(remote / local count) × ln(1 + RTT ms) exceeds 0.1, never on less than 30 s
    /// of statistics, and a node transfers at most one lease per second.
    public static let crdbWindowMs = 300_000.0
    public static let crdbDecay = 0.8
    public static let crdbThreshold = 0.1
    public static let crdbMinStatsMs = 30_000.0
    public static let crdbMinTransferIntervalMs = 1_000.0
    /// WPaxos (Ailijiang et al., "WPaxos: Wide Area Network Flexible Consensus", 2019): an
    /// object moves to a zone after this many consecutive requests from it …
    public static let wpaxosRun = 3
    /// … or (the majority variant) when one zone made most accesses of an interval this long.
    public static let wpaxosIntervalMs = 3_000.0

    /// Adaptive: operations per region are counted with exponential decay on two timescales:
    /// a short one that sees a new writer within a few operations, and a long one that
    /// remembers who else uses the block, so a region taking its turn does not win it …
    public static let adaptiveShortHalfLifeMs = 10_000.0
    public static let adaptiveLongHalfLifeMs = 300_000.0
    /// … and the saving of a move is what those rates would save over this horizon.
    public static let adaptiveHorizonMs = 60_000.0
    /// Hysteresis: the expected mean latency at the target must be at most this fraction of
    /// the current one, and the saving at least twice the cost.
    public static let adaptiveImprovement = 0.8
    public static let adaptiveMargin = 2.0
    /// WAN bandwidth assumed for the transfer's share of a move's duration, bytes per ms.
    public static let adaptiveBytesPerMs = 125_000.0

    public init(name: PolicyName) { self.name = name }

    /// Whether this policy decides at the holder.
    public var decidesAtHolder: Bool { [.crdbFtw, .wpaxosConsecutive, .wpaxosMajority, .adaptive].contains(name) }

    /// What the holder remembers about a block it holds; a new term starts empty.
    public struct Stats: Sendable, Equatable {
        var runRegion: RegionID?
        var runLength = 0
        var intervalStart: Instant?
        var intervalCounts: [RegionID: Int] = [:]
        var counts: [RegionID: Double] = [:]
        var windowStart: Instant?
        var statsSince: Instant?
        /// Adaptive: decayed operation counts per region, as of `decayedAt`.
        var shortCounts: [RegionID: Double] = [:]
        var longCounts: [RegionID: Double] = [:]
        var decayedAt: Instant?
        public init() {}
    }

    /// What the adaptive policy knows besides the operation's region.
    public struct Costs: Sendable {
        /// The holder's expected local write latency (persist + in-region quorum).
        public var localMs: Double
        /// Bytes a move may have to carry (the block).
        public var blockBytes: UInt64
        public init(localMs: Double, blockBytes: UInt64) {
            self.localMs = localMs
            self.blockBytes = blockBytes
        }
    }

    /// A decision to hand the block over, and the numbers behind it.
    public struct HandOver: Sendable, Equatable {
        public var to: RegionID
        public var reason: String
    }

    /// Records one operation the holder serves, from a client in `origin`, and says whether
    /// the block should go to another region now. `candidates` are the regions it may go to.
    public func observe(
        _ stats: inout Stats, origin: RegionID, holderRegion: RegionID, candidates: [RegionID], now: Instant,
        rttMs: (RegionID, RegionID) -> Double, costs: Costs = Costs(localMs: 0.05, blockBytes: 1 << 20)
    ) -> HandOver? {
        switch name {
        case .static, .tiers, .oracle:
            return nil
        case .adaptive:
            return adaptive(&stats, origin: origin, holderRegion: holderRegion, candidates: candidates, now: now, rttMs: rttMs, costs: costs)
        case .wpaxosConsecutive:
            if stats.runRegion == origin { stats.runLength += 1 } else { (stats.runRegion, stats.runLength) = (origin, 1) }
            guard origin != holderRegion, stats.runLength >= Self.wpaxosRun, candidates.contains(origin) else { return nil }
            return HandOver(to: origin, reason: "wpaxos-consecutive: \(stats.runLength) consecutive operations from \(origin)")
        case .wpaxosMajority:
            let start = stats.intervalStart ?? now
            var decision: HandOver?
            if (now - start).ms >= Self.wpaxosIntervalMs {
                let total = stats.intervalCounts.values.reduce(0, +)
                if let (top, n) = stats.intervalCounts.max(by: { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }),
                    top != holderRegion, 2 * n > total, candidates.contains(top)
                {
                    decision = HandOver(to: top, reason: "wpaxos-majority: \(top) made \(n) of \(total) accesses in \(Int(Self.wpaxosIntervalMs / 1000)) s")
                }
                stats.intervalCounts.removeAll()
                stats.intervalStart = now
            } else if stats.intervalStart == nil {
                stats.intervalStart = now
            }
            stats.intervalCounts[origin, default: 0] += 1
            return decision
        case .crdbFtw:
            let since = stats.statsSince ?? now
            stats.statsSince = since
            let windowStart = stats.windowStart ?? now
            let rotations = ((now - windowStart).ms / Self.crdbWindowMs).rounded(.down)
            if rotations >= 1 {
                let factor = Math.power(Self.crdbDecay, rotations)
                for r in stats.counts.keys { stats.counts[r]! *= factor }
                stats.windowStart = windowStart + .ms(rotations * Self.crdbWindowMs)
            } else {
                stats.windowStart = windowStart
            }
            stats.counts[origin, default: 0] += 1
            guard (now - since).ms >= Self.crdbMinStatsMs else { return nil }
            let local = max(1, stats.counts[holderRegion] ?? 0)
            var best: (RegionID, Double)?
            for r in candidates where r != holderRegion {
                let remote = max(1, stats.counts[r] ?? 0)
                let score = Math.logBase10(remote / local) * Math.logOnePlus(rttMs(holderRegion, r))
                if score > Self.crdbThreshold, score > best?.1 ?? -.infinity { best = (r, score) }
            }
            guard let (to, score) = best else { return nil }
            return HandOver(
                to: to,
                reason: "crdb-ftw: score \(fmt(score)) > \(Self.crdbThreshold) (requests \(to) \(fmt(stats.counts[to] ?? 0)) vs \(holderRegion) \(fmt(stats.counts[holderRegion] ?? 0)), RTT \(fmt(rttMs(holderRegion, to))) ms)")
        }
    }

    /// Moves the block when the latency its operations would save over the horizon, at the
    /// rates measured, beats what the move costs — with hysteresis, so two regions that share a
    /// block evenly leave it where it is.
    ///
    /// * rate_r: operations from region r per second, from counts decayed with a 10 s
    ///   half-life (short) and a 5 min half-life (long);
    /// * latency(r, h): what an operation from r costs when the block is held in h — the RTT
    ///   between them plus the holder's local latency; mean(h): the rate-weighted mean;
    /// * saving(t) = (mean(here) − mean(t)) × Σ rates × horizon (60 s), at the short rates;
    /// * move duration ≈ three RTTs between t and here (Hive's claim and activation and the
    ///   fence, with Hive near the current holder) + the block over the WAN; the cost is that
    ///   duration (as if one operation waited through it) plus the operations that arrive
    ///   during the move waiting half of it on average.
    /// Moves to the target with the largest net saving when saving ≥ 2 × cost and the target's
    /// mean latency is ≤ 0.8 × the current one at both the short and the long rates.
    func adaptive(
        _ stats: inout Stats, origin: RegionID, holderRegion: RegionID, candidates: [RegionID], now: Instant,
        rttMs: (RegionID, RegionID) -> Double, costs: Costs
    ) -> HandOver? {
        if let at = stats.decayedAt, now > at {
            let short = Math.power(0.5, (now - at).ms / Self.adaptiveShortHalfLifeMs)
            let long = Math.power(0.5, (now - at).ms / Self.adaptiveLongHalfLifeMs)
            for r in stats.shortCounts.keys { stats.shortCounts[r]! *= short }
            for r in stats.longCounts.keys { stats.longCounts[r]! *= long }
        }
        stats.decayedAt = now
        stats.shortCounts[origin, default: 0] += 1
        stats.longCounts[origin, default: 0] += 1
        // A decayed count over a half-life h is a rate of count × ln 2 / h.
        let rates = stats.shortCounts.mapValues { $0 * 0.6931471805599453 / (Self.adaptiveShortHalfLifeMs / 1000) }
        let total = rates.values.reduce(0, +)
        func latency(_ r: RegionID, _ h: RegionID) -> Double { (r == h ? 0 : rttMs(r, h)) + costs.localMs }
        func mean(_ counts: [RegionID: Double], _ h: RegionID) -> Double {
            counts.reduce(0) { $0 + $1.value * latency($1.key, h) } / max(counts.values.reduce(0, +), .leastNormalMagnitude)
        }
        let here = mean(rates, holderRegion)
        let hereLong = mean(stats.longCounts, holderRegion)
        var best: (target: RegionID, saving: Double, cost: Double, mean: Double)?
        for t in candidates where t != holderRegion {
            let there = mean(rates, t)
            let saving = (here - there) * total * Self.adaptiveHorizonMs / 1000
            let moveMs = 3 * rttMs(t, holderRegion) + Double(costs.blockBytes) / Self.adaptiveBytesPerMs
            let cost = moveMs + total * moveMs / 1000 * moveMs / 2
            guard saving >= Self.adaptiveMargin * cost, there <= Self.adaptiveImprovement * here,
                mean(stats.longCounts, t) <= Self.adaptiveImprovement * hereLong
            else { continue }
            if saving - cost > (best.map { $0.saving - $0.cost } ?? 0) { best = (t, saving, cost, there) }
        }
        guard let best else { return nil }
        let mix = rates.sorted { $0.key < $1.key }.map { "\($0.key) \(fmt($0.value))/s" }.joined(separator: ", ")
        return HandOver(
            to: best.target,
            reason: "adaptive: mean latency \(fmt(here)) → \(fmt(best.mean)) ms at \(mix); saves \(fmt(best.saving)) ms over \(Int(Self.adaptiveHorizonMs / 1000)) s, move costs \(fmt(best.cost)) ms")
    }

    private func fmt(_ x: Double) -> String { TiersPolicy.fmt(x) }
}
