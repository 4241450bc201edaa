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

    public init(name: PolicyName) { self.name = name }

    /// Whether this policy decides at the holder.
    public var decidesAtHolder: Bool { [.crdbFtw, .wpaxosConsecutive, .wpaxosMajority].contains(name) }

    /// What the holder remembers about a block it holds; a new term starts empty.
    public struct Stats: Sendable, Equatable {
        var runRegion: RegionID?
        var runLength = 0
        var intervalStart: Instant?
        var intervalCounts: [RegionID: Int] = [:]
        var counts: [RegionID: Double] = [:]
        var windowStart: Instant?
        var statsSince: Instant?
        public init() {}
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
        rttMs: (RegionID, RegionID) -> Double
    ) -> HandOver? {
        switch name {
        case .static, .tiers:
            return nil
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

    private func fmt(_ x: Double) -> String {
        let r = (x * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(r)
    }
}
