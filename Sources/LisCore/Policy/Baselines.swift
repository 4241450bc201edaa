/// The baselines Lis is measured against, each as its source describes it (docs/POLICY.md
/// gives the sources), behind `PlacementPolicy`. `tiers`, the seed's rule, is `TiersPolicy`.

/// Never move a block: it stays with its volume's home node. (`oracle` too: the simulator
/// moves blocks on its precomputed schedule through `NodeCore.requestSteal`.)
public struct StaticPlacement: PlacementPolicy {
    public typealias BlockStats = NoBlockStats
    public let name: PolicyName
    public init(name: PolicyName = .static) { self.name = name }
}

/// CockroachDB's follow-the-workload (`kv/kvserver/replica_stats.go`, `allocator`): request
/// counts per locality in windows rotated every `windowMs`, older windows weighing `decay`
/// each rotation; a lease moves when log10(remote ÷ local count) × ln(1 + RTT ms) exceeds
/// `threshold`, never on less than `minStatsMs` of statistics, and a node transfers at most
/// one lease per `minTransferIntervalMs`.
public struct CrdbFollowTheWorkload: PlacementPolicy {
    public struct BlockStats: Sendable, Equatable {
        var counts: [RegionID: Double] = [:]
        var windowStart: Instant?
        var statsSince: Instant?
        public init() {}
    }
    public let settings: PolicySettings.CrdbFtw
    public init(_ settings: PolicySettings.CrdbFtw = .init()) { self.settings = settings }
    public var name: PolicyName { .crdbFtw }
    public var decidesAtHolder: Bool { true }
    public var minHandOverIntervalMs: Double? { settings.minTransferIntervalMs }
    public func startTerm(carried: RegionRates?, reservedUntil: Instant?) -> BlockStats { BlockStats() }

    public func observe(_ stats: inout BlockStats, _ op: ServedOperation) -> PlacementVerdict {
        let now = op.now
        let since = stats.statsSince ?? now
        stats.statsSince = since
        let windowStart = stats.windowStart ?? now
        let rotations = ((now - windowStart).ms / settings.windowMs).rounded(.down)
        if rotations >= 1 {
            let factor = Math.power(settings.decay, rotations)
            stats.counts = stats.counts.mapValues { $0 * factor }
            stats.windowStart = windowStart + .ms(rotations * settings.windowMs)
        } else {
            stats.windowStart = windowStart
        }
        stats.counts[op.origin, default: 0] += 1
        guard (now - since).ms >= settings.minStatsMs else { return PlacementVerdict() }
        let holder = op.holderRegion
        let local = max(1, stats.counts[holder] ?? 0)
        var best: (RegionID, Double)?
        for r in op.candidates where r != holder {
            let remote = max(1, stats.counts[r] ?? 0)
            let score = Math.logBase10(remote / local) * Math.logOnePlus(op.rttMs(holder, r))
            if score > settings.threshold, score > best?.1 ?? -.infinity { best = (r, score) }
        }
        guard let (to, score) = best else { return PlacementVerdict() }
        return PlacementVerdict(handOver: HandOverDecision(
            to: to,
            reason: .crdbFtw(
                score: score, threshold: settings.threshold, target: to, targetRequests: stats.counts[to] ?? 0,
                holder: holder, holderRequests: stats.counts[holder] ?? 0, rttMs: op.rttMs(holder, to))))
    }
}

/// WPaxos (Ailijiang et al., "WPaxos: Wide Area Network Flexible Consensus", 2019): an object
/// moves to a zone after `run` consecutive requests from it.
public struct WPaxosConsecutive: PlacementPolicy {
    public struct BlockStats: Sendable, Equatable {
        var runRegion: RegionID?
        var runLength = 0
        public init() {}
    }
    public let settings: PolicySettings.WPaxos
    public init(_ settings: PolicySettings.WPaxos = .init()) { self.settings = settings }
    public var name: PolicyName { .wpaxosConsecutive }
    public var decidesAtHolder: Bool { true }
    public func startTerm(carried: RegionRates?, reservedUntil: Instant?) -> BlockStats { BlockStats() }

    public func observe(_ stats: inout BlockStats, _ op: ServedOperation) -> PlacementVerdict {
        if stats.runRegion == op.origin { stats.runLength += 1 } else { (stats.runRegion, stats.runLength) = (op.origin, 1) }
        guard op.origin != op.holderRegion, stats.runLength >= settings.run, op.candidates.contains(op.origin) else {
            return PlacementVerdict()
        }
        return PlacementVerdict(handOver: HandOverDecision(to: op.origin, reason: .wpaxosConsecutive(run: stats.runLength, from: op.origin)))
    }
}

/// WPaxos's majority variant: an object moves to the zone that made most accesses of an
/// interval `intervalMs` long, judged when the interval ends.
public struct WPaxosMajority: PlacementPolicy {
    public struct BlockStats: Sendable, Equatable {
        var intervalStart: Instant?
        var intervalCounts: [RegionID: Int] = [:]
        public init() {}
    }
    public let settings: PolicySettings.WPaxos
    public init(_ settings: PolicySettings.WPaxos = .init()) { self.settings = settings }
    public var name: PolicyName { .wpaxosMajority }
    public var decidesAtHolder: Bool { true }
    public func startTerm(carried: RegionRates?, reservedUntil: Instant?) -> BlockStats { BlockStats() }

    public func observe(_ stats: inout BlockStats, _ op: ServedOperation) -> PlacementVerdict {
        let now = op.now
        let start = stats.intervalStart ?? now
        var decision: HandOverDecision?
        if (now - start).ms >= settings.intervalMs {
            let total = stats.intervalCounts.values.reduce(0, +)
            if let (top, n) = stats.intervalCounts.max(by: { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }),
                top != op.holderRegion, 2 * n > total, op.candidates.contains(top)
            {
                decision = HandOverDecision(
                    to: top, reason: .wpaxosMajority(region: top, count: n, total: total, intervalMs: settings.intervalMs))
            }
            stats.intervalCounts.removeAll()
            stats.intervalStart = now
        } else if stats.intervalStart == nil {
            stats.intervalStart = now
        }
        stats.intervalCounts[op.origin, default: 0] += 1
        return PlacementVerdict(handOver: decision)
    }
}
