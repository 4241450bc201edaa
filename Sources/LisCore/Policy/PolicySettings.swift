/// Every tunable of the placement policies in one value, each with its unit in its name (`Ms`:
/// milliseconds; `PerMs`: per millisecond; a bare number is a count or a fraction, as its
/// comment says). The defaults are the sources' for the baselines (docs/POLICY.md cites them)
/// and docs/POLICY.md's for `adaptive`; `lis.toml` sets them in `[policy.crdb_ftw]`,
/// `[policy.wpaxos]` and `[policy.adaptive]` (docs/CONFIGURATION.md), and a scenario file in
/// the same tables. Changing one changes what the policy is: the results in docs/POLICY.md are
/// for the defaults.
public struct PolicySettings: Sendable, Equatable {
    /// CockroachDB's follow-the-workload (`kv/kvserver/replica_stats.go`, `allocator`).
    public struct CrdbFtw: Sendable, Equatable {
        /// Request counts per locality are kept in windows rotated this often …
        public var windowMs = 300_000.0
        /// … older windows weighing this much each rotation (a fraction in (0, 1]).
        public var decay = 0.8
        /// A lease moves when log10(remote / local count) × ln(1 + RTT ms) exceeds this.
        public var threshold = 0.1
        /// Never on less than this much of statistics.
        public var minStatsMs = 30_000.0
        /// A node transfers at most one lease per this interval.
        public var minTransferIntervalMs = 1_000.0
        public init() {}
    }
    /// WPaxos (Ailijiang et al., 2019).
    public struct WPaxos: Sendable, Equatable {
        /// `wpaxos-consecutive`: an object moves to a zone after this many consecutive requests from it.
        public var run = 3
        /// `wpaxos-majority`: … when one zone made most accesses of an interval this long.
        public var intervalMs = 3_000.0
        public init() {}
    }
    /// Lis's `adaptive` (docs/POLICY.md gives the reason for each).
    public struct Adaptive: Sendable, Equatable {
        /// Operations per region decay with these half-lives: the short one sees a new writer
        /// within a few operations, the long one remembers who else uses the block.
        public var shortHalfLifeMs = 10_000.0
        public var longHalfLifeMs = 120_000.0
        /// The saving of a move is what the rates would save over this horizon.
        public var horizonMs = 60_000.0
        /// The expected mean latency at the target must be at most this fraction of the current one …
        public var improvement = 0.8
        /// … and the saving at least this many times the move's cost.
        public var margin = 2.0
        /// A block is contested when regions other than the target made at least this share
        /// (a fraction) of its long-term use: a move must then pay off at long-term rates too.
        public var contested = 0.1
        /// At most this many other blocks move with a block in one co-access decision, and a
        /// holder takes such a decision for a volume at most once per this interval.
        public var groupLimit = 256
        public var groupIntervalMs = 10_000.0
        /// A region that took at least this many of a volume's blocks from a holder lately (a
        /// count decayed with the long half-life) takes the next block it alone uses on its first use.
        public var takenBlocks = 3.0
        /// A region whose operations on a volume are the last this many in a row took it over.
        public var shiftRun = 32
        /// When most of a volume's operations land on blocks several regions use, a block
        /// counts as one region's alone only after this many of its operations (decayed).
        public var evidence = 3.0
        /// Never-used neighbours: the significance level of the cluster test (a fraction), and
        /// how many of a region's recent first uses per volume are kept.
        public var freshSignificance = 0.05
        public var freshTouches = 64
        /// A block yields at most one record of a declined candidate per this interval.
        public var explainIntervalMs = 10_000.0
        /// WAN bandwidth assumed for the transfer's share of a move's duration, bytes per ms.
        public var wanBytesPerMs = 125_000.0
        /// Predictions: how often a node looks for blocks its region usually starts using in
        /// the next 15-minute slot (it moves each at the last look that leaves its move time to
        /// finish before the slot), and how long a block moved on a prediction stays reserved
        /// for the region.
        public var predictIntervalMs = 60_000.0
        public var predictReserveMs = 1_800_000.0
        public init() {}
    }
    public var crdbFtw = CrdbFtw()
    public var wpaxos = WPaxos()
    public var adaptive = Adaptive()
    public init() {}
}
