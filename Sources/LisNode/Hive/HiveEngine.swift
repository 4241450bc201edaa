import LisCore

/// A node as Hive knows it: its stable id, the one region it belongs to (DESIGN §1), and where
/// its peers reach it (`host:port`; nil for a node without a peer listener).
public struct HiveMember: Sendable, Equatable {
    public var node: NodeID
    public var region: RegionID
    public var address: String?
    /// Where its HTTP API answers, `host:port` (members read each other's dashboard activity).
    public var http: String?

    public init(node: NodeID, region: RegionID, address: String? = nil, http: String? = nil) {
        self.node = node
        self.region = region
        self.address = address
        self.http = http
    }
}

/// Why Hive refused or failed a call. Every message says what was wrong and, where it helps,
/// what would be accepted.
public enum HiveError: Error, Equatable, CustomStringConvertible {
    /// `createVolume` of a name that is taken.
    case volumeExists(VolumeName)
    /// A call about a volume Hive does not know.
    case noSuchVolume(VolumeName)
    /// A compare-and-set would make a node of this region hold a block of a volume that does
    /// not allow the region. Pinning is a hard rule, checked here below every policy.
    case pinned(VolumeName, RegionID)
    /// The call itself is malformed (an unknown holder, a block past the volume's end, …).
    case invalid(String)
    /// The engine's storage failed (disk, corruption, cancellation); the call may be retried.
    case storage(String)
    /// Not now: the call will succeed once other nodes catch up (a join waits until every
    /// member has seen the node that joined before it).
    case retryLater(String)

    public var description: String { "hive: " + message }

    /// What went wrong, without the `hive:` prefix (for API users).
    public var message: String {
        switch self {
        case .volumeExists(let name): "volume \(name) already exists"
        case .noSuchVolume(let name): "no volume named \(name)"
        case .pinned(let name, let region): "volume \(name) does not allow region \(region)"
        case .invalid(let message): message
        case .storage(let message): "storage failed: \(message)"
        case .retryLater(let message): message
        }
    }
}

/// The cluster's consistent metadata: members, volumes and the lease record of every moved
/// block (DESIGN §2). An interface with several engines: embedded (SQLite, one machine), etcd
/// (a real cluster) and the simulator's in-memory model.
///
/// Every call is linearizable: an engine MUST apply calls as if one at a time, in an order
/// consistent with real time, and a call that returned MUST survive a crash of the node.
public protocol HiveEngine: Sendable {
    /// Adds a node to the cluster, or confirms it and records its new address (a restarted
    /// node may listen elsewhere). A node belongs to one region for its whole life:
    /// registering a known node with another region is refused (`invalid`).
    ///
    /// A new node joins only once every member has acknowledged the whole member list
    /// (`acknowledgeMembers`); until then `retryLater`. So no two nodes' views of the cluster
    /// differ by more than one join, and every majority of a region as one node sees it meets
    /// every majority as another sees it (docs/CLUSTER.md, "Membership").
    func register(_ member: HiveMember) async throws(HiveError)
    /// `node` now uses the first `count` members of the list (lists only grow).
    func acknowledgeMembers(_ node: NodeID, count: Int) async throws(HiveError)
    /// Every member, in the order they first registered: the first node of a region stays
    /// first when others join, so the region's home node never changes (docs/CLUSTER.md).
    func members() async throws(HiveError) -> [HiveMember]
    /// Says `node` is alive: a key under an etcd lease of `EtcdHive.aliveTTLSeconds`, which a
    /// node renews every third of it. A member that stops (killed, cut off from Hive) lapses,
    /// and the others may take over the blocks it held (PROTOCOL.md "Takeover"). Its membership
    /// stays: quorums are counted over members, alive or not.
    func keepAlive(_ node: NodeID) async throws(HiveError)
    /// The members whose keep-alive lapsed, or that never sent one.
    func lapsedMembers() async throws(HiveError) -> Set<NodeID>
    /// Whether an operator paused the placement policies (`lis policy pause`): no node starts
    /// a move of its own while it is; recovery and operators' moves go on. False until set.
    func placementPaused() async throws(HiveError) -> Bool
    func setPlacementPaused(_ paused: Bool) async throws(HiveError)
    /// The nodes an operator drained (`lis node drain`): nothing moves to them and they start
    /// no move of their own until undrained.
    func drainedNodes() async throws(HiveError) -> Set<NodeID>
    func setDrained(_ node: NodeID, _ drained: Bool) async throws(HiveError)
    /// Every volume, sorted by name.
    func volumes() async throws(HiveError) -> [VolumeSpec]
    /// Adds a volume; `volumeExists` if the name is taken.
    func createVolume(_ volume: VolumeSpec) async throws(HiveError)
    /// Replaces a volume's spec (a resize, a new allowed-regions list). The block size cannot
    /// change and the volume cannot shrink, since lease records are per block (`invalid`); an
    /// allowed-regions list that leaves out the region of a block's current holder is `pinned`.
    func updateVolume(_ volume: VolumeSpec) async throws(HiveError)
    /// Removes a volume and every lease record of its blocks.
    func deleteVolume(_ name: VolumeName) async throws(HiveError)
    /// The lease record of a block, or nil if the block never moved (its volume's home node
    /// holds it at epoch 0, `ClusterMap.homeRecord`).
    func get(_ key: BlockKey) async throws(HiveError) -> LeaseRecord?
    /// Linearizable compare-and-set: stores `new` if the block's record is exactly `expected`
    /// (every field; nil: no record yet). `current` is the record after the call.
    ///
    /// Refuses (`pinned`) a record whose holder's region, as registered with `register`, the
    /// volume does not allow — whatever `expected` is. The holder MUST be a member and the
    /// block MUST lie within its volume (`invalid`); the volume MUST exist (`noSuchVolume`).
    func compareAndSet(_ key: BlockKey, expected: LeaseRecord?, new: LeaseRecord) async throws(HiveError)
        -> (ok: Bool, current: LeaseRecord?)
    /// Every lease record of a volume's blocks, sorted by block.
    func records(of volume: VolumeName) async throws(HiveError) -> [(BlockKey, LeaseRecord)]
    /// Calls `deliver` with every lease record as it is written, by any node, in the order
    /// Hive applied the writes (after the records that exist when it starts), until the task
    /// is cancelled. A node learns claims it is not part of this way (PROTOCOL.md: a claim
    /// adopted from the watch). Transient failures are retried inside; a record may be
    /// delivered twice.
    func watchLeases(_ deliver: @escaping @Sendable (BlockKey, LeaseRecord) async -> Void) async
}

extension HiveEngine {
    /// An engine of one machine has no member to lapse: the node using it is alive.
    public func keepAlive(_ node: NodeID) async throws(HiveError) {}
    public func lapsedMembers() async throws(HiveError) -> Set<NodeID> { [] }

    /// An engine whose node is the only writer needs no watch: it learns every record from its
    /// own calls. Waits until cancelled.
    public func watchLeases(_ deliver: @escaping @Sendable (BlockKey, LeaseRecord) async -> Void) async {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }
}

/// The checks every engine makes before it stores a volume's spec.
enum HiveChecks {
    /// Rejects a spec no engine could store meaningfully. Names, sizes and policy choices are
    /// the API's to validate with messages for people; this only guards Hive's own invariants.
    static func check(_ volume: VolumeSpec) throws(HiveError) {
        if let problem = VolumeName.problem(with: volume.name.name) { throw .invalid(problem) }
        if volume.sizeBytes == 0 { throw .invalid("volume \(volume.name) must have a size above 0 bytes") }
        if volume.blockSizeBytes == 0 {
            throw .invalid("volume \(volume.name) must have a block size above 0 bytes")
        }
        if volume.sizeBytes > UInt64(Int64.max) {
            throw .invalid("volume \(volume.name) is too large; the largest size is \(Int64.max) bytes")
        }
    }

    /// A spec may replace `old` only if its block size is the same and it does not shrink:
    /// lease records are per block.
    static func checkUpdate(from old: VolumeSpec, to volume: VolumeSpec) throws(HiveError) {
        if volume.blockSizeBytes != old.blockSizeBytes {
            throw .invalid(
                "the block size of volume \(volume.name) cannot change "
                    + "(it is \(old.blockSizeBytes) bytes); create a new volume instead")
        }
        if volume.sizeBytes < old.sizeBytes {
            throw .invalid(
                "volume \(volume.name) cannot shrink from \(old.sizeBytes) to \(volume.sizeBytes) bytes; "
                    + "a volume can only grow")
        }
    }
}
