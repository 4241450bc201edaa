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
    /// A region whose operations on a volume at a holder are the last this many in a row took
    /// the volume over: the long-term counts of who used it before no longer hold it back.
    public static let adaptiveShiftRun = 32
    /// When most of a volume's operations land on blocks several regions use, a block counts
    /// as one region's alone only after this many of its operations (decayed).
    public static let adaptiveEvidence = 3.0
    /// Never-used neighbours: a region's first uses of never-used blocks must cluster more
    /// tightly than uniformly scattered ones would with this probability (the conventional 5 %
    /// significance level) before their never-used neighbours move; at most this many of a
    /// region's recent first uses per volume are kept.
    public static let adaptiveFreshSignificance = 0.05
    public static let adaptiveFreshTouches = 64
    /// A block yields at most one record of a declined candidate per this interval.
    public static let explainIntervalMs = 10_000.0
    /// WAN bandwidth assumed for the transfer's share of a move's duration, bytes per ms.
    public static let adaptiveBytesPerMs = 125_000.0

    /// `predictive_migration`: adaptive may move blocks ahead of their own demand — the blocks
    /// of a volume a region is taking over (co-access) — and a node arms its time-of-day
    /// predictions. Off: every move is decided on the block's own operations.
    public let predictive: Bool
    public init(name: PolicyName, predictive: Bool = true) {
        self.name = name
        self.predictive = predictive
    }

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
        /// Adaptive: why the last operation from another region did not move the block (set at
        /// most once per `explainIntervalMs`; the holder takes it and reports it).
        public var declined: Declined?
        var explainedAt: Instant?

        /// Whether a declined candidate may be reported now (one per `explainIntervalMs`);
        /// if so, counts it as reported.
        mutating func explain(now: Instant) -> Bool {
            guard explainedAt.map({ (now - $0).ms >= HolderPolicy.explainIntervalMs }) ?? true else { return false }
            explainedAt = now
            return true
        }
        public init() {}
    }

    /// What the adaptive policy knows besides the operation's region.
    public struct Costs: Sendable {
        /// The holder's expected local write latency (persist + in-region quorum).
        public var localMs: Double
        /// Bytes a move may have to carry (the block).
        public var blockBytes: UInt64
        /// The round trip between each candidate region and Hive, as measured there (reported
        /// in its `pong`s) or else from the topology; a region missing here is priced as if
        /// Hive were beside the current holder.
        public var hiveRttMs: [RegionID: Double]
        public init(localMs: Double, blockBytes: UInt64, hiveRttMs: [RegionID: Double] = [:]) {
            self.localMs = localMs
            self.blockBytes = blockBytes
            self.hiveRttMs = hiveRttMs
        }
    }

    /// A candidate the policy looked at and did not move the block to, and the numbers why.
    public struct Declined: Sendable, Hashable {
        public var to: RegionID
        public var reason: DeclineReason
    }

    /// A decision to hand the block over, and the numbers behind it.
    public struct HandOver: Sendable, Equatable {
        public var to: RegionID
        public var reason: MoveReason
        /// Adaptive: the decision was the volume's (co-access): the holder hands over, with this
        /// block, the volume's other blocks held here that `joinsMove` accepts.
        public var withVolume = false
        /// Which other blocks go too (idle ones only when the target region made nearly all the
        /// volume's recent use here, else two regions sharing a volume would swap them).
        public var join = JoinRule.uncontested(idle: false, evidence: 0)
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
            stats.rates.decay(to: now)
            volume.count(origin, contested: RegionRates.contested(stats.rates.long, for: origin), now: now)
            stats.rates.add(origin, now: now)
            volume.rates.add(origin, now: now)
            volume.taken.decay(to: now)
            let explain = origin != holderRegion && (stats.explainedAt.map { (now - $0).ms >= Self.explainIntervalMs } ?? true)
            if let until = stats.reservedUntil, now < until {
                if explain, stats.explain(now: now) {
                    stats.declined = Declined(to: origin, reason: .reserved(untilMs: until.ms))
                }
                return nil
            }
            let (decision, declined) = adaptive(
                stats.rates, volume: volume, origin: origin, holderRegion: holderRegion, candidates: candidates, rttMs: rttMs,
                costs: costs, explain: explain)
            if let declined, stats.explain(now: now) { stats.declined = Declined(to: origin, reason: declined) }
            return decision
        case .wpaxosConsecutive:
            if stats.runRegion == origin { stats.runLength += 1 } else { (stats.runRegion, stats.runLength) = (origin, 1) }
            guard origin != holderRegion, stats.runLength >= Self.wpaxosRun, candidates.contains(origin) else { return nil }
            return HandOver(to: origin, reason: .wpaxosConsecutive(run: stats.runLength, from: origin))
        case .wpaxosMajority:
            let start = stats.intervalStart ?? now
            var decision: HandOver?
            if (now - start).ms >= Self.wpaxosIntervalMs {
                let total = stats.intervalCounts.values.reduce(0, +)
                if let (top, n) = stats.intervalCounts.max(by: { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }),
                    top != holderRegion, 2 * n > total, candidates.contains(top)
                {
                    decision = HandOver(to: top, reason: .wpaxosMajority(region: top, count: n, total: total, intervalMs: Self.wpaxosIntervalMs))
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
                stats.counts = stats.counts.mapValues { $0 * factor }
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
                reason: .crdbFtw(
                    score: score, threshold: Self.crdbThreshold, target: to, targetRequests: stats.counts[to] ?? 0,
                    holder: holderRegion, holderRequests: stats.counts[holderRegion] ?? 0, rttMs: rttMs(holderRegion, to)))
        }
    }

}
