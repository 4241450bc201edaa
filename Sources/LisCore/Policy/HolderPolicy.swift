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
    public static let adaptiveLongHalfLifeMs = 120_000.0
    /// … and the saving of a move is what those rates would save over this horizon.
    public static let adaptiveHorizonMs = 60_000.0
    /// Hysteresis: the expected mean latency at the target must be at most this fraction of
    /// the current one, and the saving at least twice the cost.
    public static let adaptiveImprovement = 0.8
    public static let adaptiveMargin = 2.0
    /// A block is contested when regions other than the target made at least this share of
    /// its long-term use: a move must then pay off at the long-term rates as well.
    public static let adaptiveContested = 0.1
    /// At most this many other blocks move with a block in one co-access decision, and a
    /// holder takes such a decision for a volume at most once per `adaptiveGroupIntervalMs`.
    public static let adaptiveGroupLimit = 256
    public static let adaptiveGroupIntervalMs = 10_000.0
    /// A region that took at least this many of a volume's blocks from a holder lately (a count
    /// decayed with the long half-life) takes the next block it alone uses on its first use.
    public static let adaptiveTakenBlocks = 3.0
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
        /// Adaptive: this block's operations per region.
        var rates = RegionRates()
        /// Adaptive: the block came here on a prediction; it stays until then.
        public var reservedUntil: Instant?
        public init() {}
    }

    /// Adaptive, per volume at a holder: the volume's operations served here per region, and
    /// how many of its blocks this holder handed to each region lately (co-access).
    public struct VolumeStats: Sendable, Equatable {
        var rates = RegionRates()
        var taken = RegionRates()
        public init() {}

        /// Counts a block of the volume handed over to `region`.
        public mutating func handedOver(to region: RegionID, now: Instant) { taken.add(region, now: now) }
    }

    /// Adaptive: operations per region of origin, counted with exponential decay on the two
    /// timescales (`adaptiveShortHalfLifeMs`, `adaptiveLongHalfLifeMs`). Kept per block and,
    /// at each holder, per volume (what its blocks served here see together).
    public struct RegionRates: Sendable, Hashable {
        var short: [RegionID: Double] = [:]
        var long: [RegionID: Double] = [:]
        /// As of when, on this node's clock (a hand-over sends counts decayed to the moment it
        /// leaves, and the receiver dates them with its own clock).
        var at: Instant?
        public init() {}

        mutating func decay(to now: Instant) {
            if let at, now > at {
                let s = Math.power(0.5, (now - at).ms / HolderPolicy.adaptiveShortHalfLifeMs)
                let l = Math.power(0.5, (now - at).ms / HolderPolicy.adaptiveLongHalfLifeMs)
                for r in short.keys { short[r]! *= s }
                for r in long.keys { long[r]! *= l }
            }
            at = max(at ?? now, now)
        }

        mutating func add(_ origin: RegionID, now: Instant) {
            decay(to: now)
            short[origin, default: 0] += 1
            long[origin, default: 0] += 1
        }

        /// Operations per second from each region: a decayed count over a half-life h is a
        /// rate of count × ln 2 / h.
        var shortRates: [RegionID: Double] {
            short.mapValues { $0 * 0.6931471805599453 / (HolderPolicy.adaptiveShortHalfLifeMs / 1000) }
        }

        /// Less than half an operation left on the long timescale: nobody uses the block lately.
        var isIdle: Bool { long.values.reduce(0, +) < 0.5 }
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
        /// Adaptive: the decision was the volume's (co-access): the holder hands over, with this
        /// block, the volume's other blocks held here that `joinsMove` accepts.
        public var withVolume = false
        /// Whether idle blocks go too: only when the target region made nearly all the volume's
        /// recent use here (else two regions sharing a volume would swap its idle blocks).
        public var withIdle = false
    }

    /// `observe` for a block seen alone (no volume rates kept; tests, single-block volumes).
    public func observe(
        _ stats: inout Stats, origin: RegionID, holderRegion: RegionID, candidates: [RegionID], now: Instant,
        rttMs: (RegionID, RegionID) -> Double, costs: Costs = Costs(localMs: 0.05, blockBytes: 1 << 20)
    ) -> HandOver? {
        var alone = VolumeStats()
        alone.rates = stats.rates
        return observe(&stats, origin: origin, holderRegion: holderRegion, candidates: candidates, now: now, rttMs: rttMs, costs: costs, volume: &alone)
    }

    /// Records one operation the holder serves, from a client in `origin`, and says whether
    /// the block should go to another region now. `candidates` are the regions it may go to;
    /// `volume` is what the holder counts for the block's volume (adaptive's co-access).
    public func observe(
        _ stats: inout Stats, origin: RegionID, holderRegion: RegionID, candidates: [RegionID], now: Instant,
        rttMs: (RegionID, RegionID) -> Double, costs: Costs = Costs(localMs: 0.05, blockBytes: 1 << 20),
        volume: inout VolumeStats
    ) -> HandOver? {
        switch name {
        case .static, .tiers, .oracle:
            return nil
        case .adaptive:
            stats.rates.add(origin, now: now)
            volume.rates.add(origin, now: now)
            volume.taken.decay(to: now)
            if let until = stats.reservedUntil, now < until { return nil }
            return adaptive(stats.rates, volume: volume, origin: origin, holderRegion: holderRegion, candidates: candidates, rttMs: rttMs, costs: costs)
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
    ///
    /// Co-access: when the block's own rates do not decide (each block of a shared workspace
    /// may be written once every few minutes), the volume's do: if the operations from the
    /// operation's region t on all the volume's blocks served here would save, at the short
    /// rates, twice a move's cost, the block moves to t together with the volume's other blocks
    /// held here that t alone uses or nobody uses lately (`joinsMove`) — provided this block is
    /// one of them.
    func adaptive(
        _ rates: RegionRates, volume: VolumeStats, origin: RegionID, holderRegion: RegionID, candidates: [RegionID],
        rttMs: (RegionID, RegionID) -> Double, costs: Costs
    ) -> HandOver? {
        func latency(_ r: RegionID, _ h: RegionID) -> Double { (r == h ? 0 : rttMs(r, h)) + costs.localMs }
        func mean(_ counts: [RegionID: Double], _ h: RegionID) -> Double {
            counts.reduce(0) { $0 + $1.value * latency($1.key, h) } / max(counts.values.reduce(0, +), .leastNormalMagnitude)
        }
        func best(_ rates: RegionRates) -> (target: RegionID, here: Double, there: Double, saving: Double, cost: Double)? {
            let short = rates.shortRates
            let total = short.values.reduce(0, +)
            let here = mean(short, holderRegion)
            let hereLong = mean(rates.long, holderRegion)
            var best: (target: RegionID, here: Double, there: Double, saving: Double, cost: Double)?
            for t in candidates where t != holderRegion {
                let there = mean(short, t)
                let saving = (here - there) * total * Self.adaptiveHorizonMs / 1000
                let moveMs = 3 * rttMs(t, holderRegion) + Double(costs.blockBytes) / Self.adaptiveBytesPerMs
                let cost = moveMs + total * moveMs / 1000 * moveMs / 2
                guard saving >= Self.adaptiveMargin * cost, there <= Self.adaptiveImprovement * here,
                    mean(rates.long, t) <= Self.adaptiveImprovement * hereLong
                else { continue }
                // Contested: other regions made ≥ 10 % of the long-term use. Then the move must
                // pay off at the long-term rates too, so a turn taken on a shared block, or a
                // burst of chance, does not move it.
                let longTotal = rates.long.values.reduce(0, +)
                if longTotal - (rates.long[t] ?? 0) >= Self.adaptiveContested * longTotal {
                    let longRate = longTotal * 0.6931471805599453 / (Self.adaptiveLongHalfLifeMs / 1000)
                    let longSaving = (hereLong - mean(rates.long, t)) * longRate * Self.adaptiveHorizonMs / 1000
                    guard longSaving >= Self.adaptiveMargin * cost else { continue }
                }
                if saving - cost > (best.map { $0.saving - $0.cost } ?? 0) { best = (t, here, there, saving, cost) }
            }
            return best
        }
        func mix(_ rates: RegionRates) -> String {
            rates.shortRates.sorted { $0.key < $1.key }.map { "\($0.key) \(fmt($0.value))/s" }.joined(separator: ", ")
        }
        if let b = best(rates) {
            return HandOver(
                to: b.target,
                reason: "adaptive: mean latency \(fmt(b.here)) → \(fmt(b.there)) ms at \(mix(rates)); saves \(fmt(b.saving)) ms over \(Int(Self.adaptiveHorizonMs / 1000)) s, move costs \(fmt(b.cost)) ms")
        }
        // The volume: if what the operation's region does on the volume's blocks here would
        // save pays for a move, the blocks it alone uses go there.
        let t = origin
        guard t != holderRegion, candidates.contains(t), let rate = volume.rates.shortRates[t], joinsMove(rates, to: t) else { return nil }
        let saving = rate * (latency(t, holderRegion) - latency(t, t)) * Self.adaptiveHorizonMs / 1000
        let moveMs = 3 * rttMs(t, holderRegion) + Double(costs.blockBytes) / Self.adaptiveBytesPerMs
        let cost = moveMs + rate * moveMs / 1000 * moveMs / 2
        if saving >= Self.adaptiveMargin * cost {
            let volumeLong = volume.rates.long.values.reduce(0, +)
            let othersLong = volumeLong - (volume.rates.long[t] ?? 0)
            return HandOver(
                to: t,
                reason: "adaptive (co-access): \(t) makes \(fmt(rate)) operations/s on this volume here (\(mix(volume.rates))); moving its blocks saves \(fmt(saving)) ms over \(Int(Self.adaptiveHorizonMs / 1000)) s, a move costs \(fmt(cost)) ms",
                withVolume: true, withIdle: othersLong < Self.adaptiveContested * volumeLong)
        }
        // The region has been taking this volume's blocks from here (a working set on the move):
        // a block only it uses goes too, on its first operations.
        let taken = volume.taken.long[t] ?? 0
        guard taken >= Self.adaptiveTakenBlocks else { return nil }
        return HandOver(
            to: t,
            reason: "adaptive (co-access): \(t) took \(fmt(taken)) of this volume's blocks from here lately (decayed count) and alone uses this one")
    }

    /// Whether a block held here goes along when its volume moves to `target`: the target made
    /// more than 90 % of its long-term use (it is not contested), or nobody used it lately and
    /// `idle` blocks go.
    public func joinsMove(_ stats: inout Stats, to target: RegionID, idle: Bool, now: Instant) -> Bool {
        if let until = stats.reservedUntil, now < until { return false }
        stats.rates.decay(to: now)
        return joinsMove(stats.rates, to: target, idle: idle)
    }

    func joinsMove(_ rates: RegionRates, to target: RegionID, idle: Bool = true) -> Bool {
        if rates.isIdle { return idle }
        let total = rates.long.values.reduce(0, +)
        return total - (rates.long[target] ?? 0) < Self.adaptiveContested * total
    }

    private func fmt(_ x: Double) -> String { TiersPolicy.fmt(x) }
}
