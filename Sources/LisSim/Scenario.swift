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

    public init(
        name: String, topology: Topology, topologyTOML: String, regions: [RegionID],
        nodesPerRegion: Int, hiveRegion: RegionID, volumes: [VolumeSpec],
        migration: MigrationConfig = MigrationConfig(), policy: PolicyConfig = PolicyConfig(),
        trace: [TraceOp]
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
    }

    /// The most nodes a region may have: enough for any quorum shape we test, few enough that
    /// a scenario file cannot ask the simulator for thousands of nodes by a typo.
    public static let maxNodesPerRegion = 9

    /// The names `builtIn(_:seed:)` knows, in a fixed order.
    public static let builtInNames: [String] = BuiltInScenarios.all.map(\.name)

    /// The built-in scenario called `name`, its workload drawn from `seed`; nil for an unknown
    /// name. The same name and seed always give the same scenario.
    public static func builtIn(_ name: String, seed: UInt64) -> Scenario? {
        BuiltInScenarios.all.first { $0.name == name }?.make(seed)
    }
}
