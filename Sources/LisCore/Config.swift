/// A node's configuration: the contents of `lis.toml` (DESIGN §5).
///
/// Every section is optional and every key has a default, so an empty file is a working
/// one-node setup. Unknown keys are errors, not warnings: a misspelt `slow_write_treshold`
/// that silently kept its default would change behaviour with no trace. Parsing is in
/// `Config+Parse.swift`.
public struct LisConfig: Sendable, Equatable {
    /// `[node]`: who this node is and where it listens.
    public var node: NodeConfig
    /// `[volume]`: defaults for volumes created without explicit settings.
    public var volume: VolumeDefaults
    /// `[migration]`: the seed's section, as-is, plus an optional tier table.
    public var migration: MigrationConfig
    /// `[policy]`: which policy decides steals, and its knobs.
    public var policy: PolicyConfig
    /// `[hive]`: where the cluster's metadata lives.
    public var hive: HiveConfig
    /// `[cluster]`: how this node reaches and proves itself to its peers.
    public var cluster: ClusterConfig = ClusterConfig()
    /// `[wan]`: emulated wide-area delays between regions (tests and demos on one machine):
    /// key `topology`, the round-trip file, and key `hive_region`, where Hive is taken to be
    /// (each of the node's Hive calls waits the round trip to it).
    public var wanTopology: String?
    public var wanHiveRegion: RegionID?
    /// `[wan] bandwidth_mbit`: what each lane of a link between two regions carries, in
    /// megabits per second (nil: unlimited).
    public var wanBandwidthMbit: Double?

    public init(
        node: NodeConfig = NodeConfig(), volume: VolumeDefaults = VolumeDefaults(),
        migration: MigrationConfig = MigrationConfig(), policy: PolicyConfig = PolicyConfig(),
        hive: HiveConfig = HiveConfig()
    ) {
        self.node = node
        self.volume = volume
        self.migration = migration
        self.policy = policy
        self.hive = hive
    }
}

/// `[cluster]`: the peer transport. Without `peer_address` the node has no peers (a one-node
/// cluster).
public struct ClusterConfig: Sendable, Equatable {
    /// Key `name`: the cluster's name; peers of another cluster are refused.
    public var name: String = "lis"
    /// Key `peer_address`: where this node listens for peers, `host:port`; peers reach it at
    /// this address (published in Hive), so it must not be a wildcard.
    public var peerAddress: String?
    /// Key `secret_file`: the join secret every node of the cluster shares (at least 16
    /// bytes). Required with `peer_address`.
    public var secretFile: String?
    /// Key `discovery`: answer discovery queries (`lis serve --auto-discover`), so that nodes
    /// that know only the secret find this cluster. Needs `peer_address` and etcd.
    public var discovery = false
    /// Key `discovery_port`: the UDP port discovery queries go to. Default 7790.
    public var discoveryPort = 7790
    /// Key `auto_discover`: find the cluster's Hive by asking on the peer network's multicast
    /// group at the first start (`--auto-discover`), then answer others' queries.
    public var autoDiscover = false
    /// Key `join`: members' discovery addresses (`host:port`, UDP) to ask at the first start
    /// (`--join`), for routed networks.
    public var join: [String] = []

    public init() {}
}

/// `[hive]`: the engine that keeps the cluster's metadata (DESIGN §2).
public struct HiveConfig: Sendable, Equatable {
    public enum Engine: String, Sendable, CaseIterable {
        /// SQLite in `<data_dir>/hive.sqlite`: a one-node cluster, nothing else to run.
        case embedded
        /// etcd, through its v3 JSON gateway: the engine of a cluster of several nodes.
        case etcd
    }
    /// Key `engine`.
    public var engine: Engine = .embedded
    /// Key `endpoints`: etcd's client URLs (`http://host:port`), tried in order. Only for etcd.
    public var endpoints: [String] = ["http://127.0.0.1:2379"]
    /// Key `prefix`: the etcd keys of this cluster live under it, so clusters can share an etcd.
    public var prefix: String = "/lis/"

    public init() {}
}

/// `[node]`: this node's identity and listening addresses.
public struct NodeConfig: Sendable, Equatable {
    /// Key `id`. Nil means the runtime derives one (and keeps it stable in the data dir).
    public var id: NodeID?
    /// Key `region`. A one-node cluster needs no name, so it is `local`.
    public var region: RegionID = RegionID("local")
    /// Key `data_dir`: blocks, the Hive log and the node's identity live here.
    public var dataDir: String = "./lis-data"
    /// Key `nbd_socket`: the NBD unix socket. Nil means `<data_dir>/nbd.sock`.
    public var nbdSocket: String?
    /// Key `nbd_address`: NBD over TCP, `host:port` (10809 is NBD's registered port), or
    /// `"none"` (nil) for the unix socket alone.
    public var nbdAddress: String? = "127.0.0.1:10809"
    /// Key `http_address`: API, dashboard and `/metrics`, `host:port`.
    public var httpAddress: String = "127.0.0.1:7780"

    public init() {}
}

/// `[volume]`: settings a new volume gets unless it names its own.
public struct VolumeDefaults: Sendable, Equatable {
    /// Key `block_size`: bytes or a size string (`"1MiB"`); a power of two within
    /// `VolumeSpec.minBlockSizeBytes...VolumeSpec.maxBlockSizeBytes`.
    public var blockSizeBytes: UInt64 = 1 << 20
    /// Key `survive`: `"node"` or `"region"` (DESIGN §3).
    public var survive: Survival = .node

    public init() {}
}

/// One row of the tiers policy: at a latency factor of at least `minFactor` (remote latency
/// over expected local latency), a block is stolen after `slowWrites` slow writes.
public struct MigrationTier: Sendable, Hashable, Codable {
    /// The lowest latency factor this tier applies to; it applies up to the next tier's.
    public var minFactor: Double
    /// How many slow writes from one region, within the policy's window, trigger a steal.
    public var slowWrites: Int

    public init(minFactor: Double, slowWrites: Int) {
        self.minFactor = minFactor
        self.slowWrites = slowWrites
    }
}

/// `[migration]`: the seed's section, with the same keys and defaults, plus `[[migration.tier]]`.
public struct MigrationConfig: Sendable, Equatable {
    /// Key `min_latency_factor`: below this latency factor a block never moves. At least 1.0.
    public var minLatencyFactor: Double = 2.0
    /// Key `slow_write_threshold`: the slow writes that trigger a steal in the 5–10× tier; the
    /// other derived tiers scale from it. Between 1 and `maxSlowWrites`.
    public var slowWriteThreshold: Int = 5
    /// Key `migration_cooldown_ms`: the least time between two moves of one block. At least 0.
    public var migrationCooldownMs: Double = 30_000
    /// Key `max_concurrent_migrations`: steals one node may have in flight. At least 1.
    public var maxConcurrentMigrations: Int = 100
    /// Key `predictive_migration`: allow moves ahead of demand (co-access, time of week).
    public var predictiveMigration: Bool = true
    /// Key `tier` (`[[migration.tier]]` with `min_factor` and `slow_writes`): replaces the
    /// derived tier table. Nil means derive it from the keys above.
    public var explicitTiers: [MigrationTier]?

    /// The largest slow-write count accepted anywhere; keeps the derived `2 × threshold` far
    /// from overflow, and no policy that waits for a million slow writes is a policy.
    public static let maxSlowWrites = 1_000_000

    public init() {}

    /// The tier table the policy uses, highest `minFactor` first; empty means never steal.
    ///
    /// Without `explicitTiers` it is the seed's table with the threshold as the middle tier:
    /// ≥10× after ⌈0.6 × threshold⌉ writes, ≥5× after threshold, ≥`minLatencyFactor` after
    /// 2 × threshold — with the defaults exactly the seed's 3, 5 and 10.
    ///
    /// `minLatencyFactor` is a floor on every table: a tier that lies wholly below it is
    /// dropped, and the tier it falls inside starts at it instead. So `min_latency_factor = 6`
    /// gives ≥10× and ≥6× (the 5× tier's count), not a gap between 6× and 10× in which nothing
    /// would ever move.
    public var tiers: [MigrationTier] {
        let table = explicitTiers ?? [
            MigrationTier(minFactor: 10, slowWrites: (3 * slowWriteThreshold + 4) / 5),
            MigrationTier(minFactor: 5, slowWrites: slowWriteThreshold),
            // Starts at the lowest possible factor; the floor below lifts it to min_latency_factor.
            MigrationTier(minFactor: 1, slowWrites: 2 * slowWriteThreshold),
        ]
        var result: [MigrationTier] = []
        for tier in table.sorted(by: { $0.minFactor > $1.minFactor }) {
            // Each tier covers [minFactor, the previous tier's minFactor); once one reaches
            // down to the floor, every later tier lies wholly below it.
            if let last = result.last, last.minFactor <= minLatencyFactor { break }
            let minFactor = max(tier.minFactor, minLatencyFactor)
            result.append(MigrationTier(minFactor: minFactor, slowWrites: tier.slowWrites))
        }
        return result
    }
}

/// The steal policies a node can run (DESIGN §4).
public enum PolicyName: String, Sendable, Equatable, CaseIterable {
    /// Never move a block: it stays with its volume's home node.
    case `static`
    /// The seed's rule made exact: latency factor tiers, each with a slow-write count.
    case tiers
    /// CockroachDB's follow-the-workload lease rebalancing (docs/POLICY.md).
    case crdbFtw = "crdb-ftw"
    /// WPaxos's adaptive object stealing: move after 3 consecutive operations from one region.
    case wpaxosConsecutive = "wpaxos-consecutive"
    /// WPaxos's majority rule: move when one region made most of the accesses of a 3 s interval.
    case wpaxosMajority = "wpaxos-majority"
    /// Lis's policy: move when the expected saving over a horizon beats the cost of moving
    /// (docs/POLICY.md).
    case adaptive
    /// The offline bound: knows the whole trace in advance and moves each block on the best
    /// schedule for it (docs/POLICY.md). Only the simulator runs it; a node refuses it.
    case oracle
}

/// `[policy]`: which policy runs and the knobs every policy shares.
public struct PolicyConfig: Sendable, Equatable {
    /// Key `name`.
    public var name: PolicyName = .tiers
    /// Key `local_latency_floor_ms`: the least expected local latency the latency factor
    /// divides by, so a fast local write never divides by (nearly) zero (DESIGN §6). Above 0.
    public var localLatencyFloorMs: Double = 0.05
    /// Key `slow_write_window_ms`: slow writes older than this no longer count. Above 0.
    public var slowWriteWindowMs: Double = 60_000
    /// Tables `crdb_ftw`, `wpaxos`, `adaptive`: the policies' tunables (`PolicySettings`).
    public var settings = PolicySettings()

    public init() {}
}

/// Why a configuration (or topology) file was refused: which key, or which line, and what
/// would be accepted.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The full dotted key, such as `migration.tier[1].min_factor`; nil for syntax errors.
    public var key: String?
    /// The 1-based line of a TOML syntax error; nil when the error is about a value.
    public var line: Int?
    /// What is wrong: after the key when there is one (`must be …, got …`).
    public var message: String

    public init(key: String? = nil, line: Int? = nil, message: String) {
        self.key = key
        self.line = line
        self.message = message
    }

    public var description: String {
        var text = "config: "
        if let line { text += "line \(line): " }
        if let key { text += "\(key) " }
        return text + message
    }
}
