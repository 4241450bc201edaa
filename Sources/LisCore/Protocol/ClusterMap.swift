/// What every node knows of the cluster's shape: its nodes by region, its volumes, and the
/// inter-region round-trip times (from the topology, later from heartbeats).
public struct ClusterMap: Sendable {
    /// Nodes of each region, sorted by `NodeID`; the first is the region's *home node*.
    public private(set) var nodesByRegion: [RegionID: [NodeID]]
    public private(set) var regionOfNode: [NodeID: RegionID]
    public var volumes: [VolumeName: VolumeSpec]
    /// Round-trip time between two regions in milliseconds; used to pick the nearest region.
    public var rttMs: @Sendable (RegionID, RegionID) -> Double
    /// The region Hive answers from, when known (the simulator's scenario says; a node learns
    /// its Hive round trip by measuring it): prices moves until a node has measured its own.
    public var hiveRegion: RegionID?

    /// `inJoinOrder`: each region's nodes keep the order given (a real cluster's registration
    /// order, so a joining node never becomes a region's home node); otherwise they are sorted
    /// by id (the simulator's clusters, which exist whole from the start).
    public init(
        nodes: [(NodeID, RegionID)], volumes: [VolumeSpec], inJoinOrder: Bool = false,
        rttMs: @escaping @Sendable (RegionID, RegionID) -> Double
    ) {
        nodesByRegion = [:]
        regionOfNode = [:]
        self.volumes = Dictionary(uniqueKeysWithValues: volumes.map { ($0.name, $0) })
        self.rttMs = rttMs
        setNodes(nodes, inJoinOrder: inJoinOrder)
    }

    /// Replaces the membership (see `init` for `inJoinOrder`).
    public mutating func setNodes(_ nodes: [(NodeID, RegionID)], inJoinOrder: Bool) {
        var byRegion: [RegionID: [NodeID]] = [:]
        var region: [NodeID: RegionID] = [:]
        for (node, r) in nodes where region[node] == nil {
            byRegion[r, default: []].append(node)
            region[node] = r
        }
        if !inJoinOrder { for r in byRegion.keys { byRegion[r]?.sort() } }
        nodesByRegion = byRegion
        regionOfNode = region
        regions = byRegion.keys.sorted()
    }

    /// All regions with at least one node, sorted (kept with the membership: the write path
    /// asks for them on every write).
    public private(set) var regions: [RegionID] = []

    /// The node's region; nil for a node that is not a member (a peer message from it is
    /// dropped, a lease naming it is treated as held far away).
    public func region(of node: NodeID) -> RegionID? { regionOfNode[node] }

    public func nodes(in region: RegionID) -> [NodeID] { nodesByRegion[region] ?? [] }

    /// Whether `node` is the only node of `regions`: a quorum over them is complete with its
    /// own copy, and a write there has no other copy to send or repair.
    public func isAlone(_ node: NodeID, in regions: [RegionID]) -> Bool {
        regions.count == 1 && regionOfNode[node] == regions[0] && nodesByRegion[regions[0]]?.count == 1
    }

    /// Whether the node is a member of the cluster.
    public func contains(_ node: NodeID) -> Bool { regionOfNode[node] != nil }

    /// The node that holds a region's never-moved blocks and takes its region's writes first.
    public func homeNode(of region: RegionID) -> NodeID? { nodesByRegion[region]?.first }

    /// The regions whose majorities form Q2 for a holder in `region` (DESIGN §3): the region
    /// itself, plus for `survive = region` the nearest other allowed region that has nodes.
    public func quorumRegions(for region: RegionID, volume: VolumeSpec) -> [RegionID] {
        guard volume.survive == .region else { return [region] }
        let partner = regions
            .filter { $0 != region && volume.allows($0) }
            .min { a, b in
                let (ra, rb) = (rttMs(region, a), rttMs(region, b))
                return ra != rb ? ra < rb : a < b
            }
        return partner.map { [region, $0] } ?? [region]
    }

    /// The lease of a block that was never moved: its volume's home node at epoch 0.
    public func homeRecord(of key: BlockKey) -> LeaseRecord? {
        guard let volume = volumes[key.volume], let home = homeNode(of: volume.home) else { return nil }
        let term = ActiveTerm(epoch: .zero, holder: home, quorumRegions: quorumRegions(for: volume.home, volume: volume))
        return LeaseRecord(epoch: .zero, holder: home, quorumRegions: term.quorumRegions, state: .active, lastActive: term)
    }

    /// Every node in the given regions, in a fixed order.
    public func nodes(inRegions regions: [RegionID]) -> [NodeID] { regions.flatMap { nodes(in: $0) } }
}

/// Counts replies from a quorum that needs a majority of nodes in each of several regions.
public struct QuorumTally: Sendable, Equatable {
    /// The quorum's regions' nodes, and each one's region.
    private var members: [NodeID: RegionID] = [:]
    private var needed: [RegionID: Int] = [:]
    private var have: [RegionID: Set<NodeID>] = [:]

    public init(regions: [RegionID], map: ClusterMap) {
        for r in regions {
            let nodes = map.nodes(in: r)
            needed[r] = nodes.count / 2 + 1
            for node in nodes { members[node] = r }
        }
    }

    /// Records a reply (one from a node outside the quorum's regions counts for nothing);
    /// returns true once every region has its majority.
    @discardableResult
    public mutating func add(_ node: NodeID) -> Bool {
        if let region = members[node] { have[region, default: []].insert(node) }
        return isComplete
    }

    /// Whether this node's reply is already counted.
    public func contains(_ node: NodeID) -> Bool { have.values.contains { $0.contains(node) } }

    public var isComplete: Bool { needed.allSatisfy { (region, n) in (have[region]?.count ?? 0) >= n } }
}
