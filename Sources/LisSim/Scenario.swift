import LisCore

/// Everything one simulation run needs besides the seed and the faults: where the nodes are,
/// which volumes exist, the policy settings, and the workload to replay.
///
/// On disk a scenario is a directory: `scenario.toml` naming a `topology.toml` (optional) and a
/// `trace.jsonl`; see `load(path:)` for the format and `export(to:)` for writing one. Built-in
/// scenarios (`builtIn(_:seed:)`) are generated from a seed instead, so they need no files.
public struct Scenario: Sendable, Equatable {
    /// A label for reports; defaults to the scenario file's name without its extension.
    public var name: String
    /// The latency matrix the simulated network uses.
    public var topology: Topology
    /// The text `topology` was parsed from; `export(to:)` writes it back unchanged.
    public var topologyTOML: String
    /// The regions that have nodes, in the order the file lists them (node numbering follows it).
    public var regions: [RegionID]
    /// Nodes in every region of `regions`, in `1...maxNodesPerRegion`.
    public var nodesPerRegion: Int
    /// Where the simulated Hive lives, so its calls cost that region's RTTs.
    public var hiveRegion: RegionID
    public var volumes: [VolumeSpec]
    /// `[migration]`; the defaults when the file has none.
    public var migration: MigrationConfig
    /// `[policy]`; the defaults when the file has none.
    public var policy: PolicyConfig
    /// The workload, in non-decreasing `tMs` order; operations at the same time keep their order.
    public var trace: [TraceOp]
    /// Scheduled changes to the network, in non-decreasing `atMs` order (`[[latency_change]]`):
    /// a scenario can degrade a region midway, so a policy is judged on noticing and leaving it.
    public var latencyChanges: [LatencyChange]

    public init(
        name: String, topology: Topology, topologyTOML: String, regions: [RegionID],
        nodesPerRegion: Int, hiveRegion: RegionID, volumes: [VolumeSpec],
        migration: MigrationConfig = MigrationConfig(), policy: PolicyConfig = PolicyConfig(),
        trace: [TraceOp], latencyChanges: [LatencyChange] = []
    ) {
        self.name = name
        self.topology = topology
        self.topologyTOML = topologyTOML
        self.regions = regions
        self.nodesPerRegion = nodesPerRegion
        self.hiveRegion = hiveRegion
        self.volumes = volumes
        self.migration = migration
        self.policy = policy
        self.trace = trace
        self.latencyChanges = latencyChanges
    }

    /// The most nodes a region may have: enough for any quorum shape we test, few enough that
    /// a scenario file cannot ask the simulator for thousands of nodes by a typo.
    public static let maxNodesPerRegion = 9

    /// The names `builtIn(_:seed:)` knows, in a fixed order.
    public static let builtInNames: [String] = BuiltInScenarios.all.map(\.name)

    /// What the topology's RTT between `a` and `b` (the same region: its intra-region RTT) is
    /// multiplied by at `atMs`, after every `latencyChanges` entry at or before that time: the
    /// factor of each end in effect then (1 if none), multiplied together for a link between
    /// two regions, so a link between two degraded regions is slowed by both.
    public func latencyFactor(_ a: RegionID, _ b: RegionID, atMs: Double) -> Double {
        func factor(_ region: RegionID) -> Double {
            // The last entry in effect wins; the list is in time order, so scan it backwards.
            latencyChanges.last { $0.region == region && $0.atMs <= atMs }?.factor ?? 1
        }
        return a == b ? factor(a) : factor(a) * factor(b)
    }

    /// The built-in scenario called `name`, its workload drawn from `seed`; nil for an unknown
    /// name. The same name and seed always give the same scenario.
    public static func builtIn(_ name: String, seed: UInt64) -> Scenario? {
        BuiltInScenarios.all.first { $0.name == name }?.make(seed)
    }
}

/// From `atMs` on, every RTT to or from `region` — its links to other regions and its own
/// intra-region RTT — is multiplied by `factor` (a factor for the same region at a later time
/// replaces this one; `factor` 1 restores the topology's figures). It models a region whose
/// network or machines degrade, which the topology's fixed matrix cannot express.
///
/// In `scenario.toml`: `[[latency_change]]` with `at_s` (seconds), `region` and `factor`.
public struct LatencyChange: Sendable, Equatable {
    /// Virtual time in milliseconds since the start of the run; kept to whole microseconds,
    /// like trace times, so that it round-trips through `scenario.toml` exactly.
    public var atMs: Double
    public var region: RegionID
    /// What the RTTs are multiplied by; > 0 (below 1 makes the region faster).
    public var factor: Double

    public init(atMs: Double, region: RegionID, factor: Double) {
        self.atMs = atMs
        self.region = region
        self.factor = factor
    }
}
