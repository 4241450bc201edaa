import DequeModule

/// Where blocks should live: the one interface every placement policy implements (`static`,
/// `tiers`, `crdb-ftw`, `wpaxos-consecutive`, `wpaxos-majority`, `adaptive`; docs/POLICY.md).
///
/// A policy sees what its node sees — the writes it forwards and how long they took (a policy
/// that decides at the origin), the operations it serves as holder (one that decides at the
/// holder), when its own clients use each block — and answers with typed decision records
/// (`MoveReason`, `DeclineReason`). It keeps its own state: per block while this node holds it
/// (`BlockStats`, which starts afresh with each term), and per node. NodeCore asks it and
/// enforces the rules no policy overrides: one steal per block, `max_concurrent_migrations`,
/// pinning (Hive's), the cooldown where the policy keeps one.
///
/// Every method has a default that does nothing, so each policy states only what it decides.
public protocol PlacementPolicy: Sendable {
    /// What the policy remembers about a block while this node holds it.
    associatedtype BlockStats: Sendable

    var name: PolicyName { get }

    // MARK: At the origin

    /// The writer's node decides: its forwarded writes are timed and counted there.
    var decidesAtOrigin: Bool { get }
    /// How long a forwarded write may stay unanswered before it counts as slow already; nil:
    /// writes are not timed before their answer.
    func slowAfterMs(localMs: Double) -> Double?
    /// Whether the latencies of the writes this node forwarded justify a steal now.
    func stealAtOrigin(samples: Deque<BlockHeat.LatencySample>, localMs: Double, now: Instant) -> MoveReason?

    // MARK: At the holder

    /// The holder decides, from the operations it serves.
    var decidesAtHolder: Bool { get }
    /// A term starts: `carried` is the block's use as its previous holder counted it (a
    /// hand-over carries it), `reservedUntil` set when the block came on a prediction.
    func startTerm(carried: RegionRates?, reservedUntil: Instant?) -> BlockStats
    /// One operation the holder serves: hand the block to another region?
    mutating func observe(_ stats: inout BlockStats, _ operation: ServedOperation) -> PlacementVerdict
    /// The block's use to send with a hand-over (decayed to `now`).
    func carried(_ stats: inout BlockStats, now: Instant) -> RegionRates
    /// Keeps the per-block cooldown on hand-overs (the baselines follow their sources, which have none).
    var keepsCooldown: Bool { get }
    /// A node hands over at most one block per this interval; nil: no limit.
    var minHandOverIntervalMs: Double? { get }
    /// Whether a candidate the node could not hand the block to (the cooldown) may be reported
    /// now; counts it as reported. The policies that explain nothing answer false.
    func mayExplain(_ stats: inout BlockStats, now: Instant) -> Bool
    /// The holder handed a block of the volume to `region`.
    mutating func handedOver(_ key: BlockKey, to region: RegionID, now: Instant)

    // MARK: Blocks that move together

    /// A decision moves the volume (`HandOverDecision.withVolume`): how many other blocks may
    /// go with it now (0: none now; the policy counts the decision).
    mutating func beginGroupMove(_ volume: VolumeName, now: Instant) -> Int
    /// Whether a block held here goes with the volume's move.
    func joins(_ stats: inout BlockStats, _ decision: HandOverDecision, now: Instant) -> Bool
    /// The first operation anyone made on a never-used block, at its home node: the never-used
    /// blocks to hand to `origin` with it, if any (the node has `neverUsed` say which blocks
    /// nobody used, and `held` give this policy's state of a block held here).
    mutating func firstUse(
        _ key: BlockKey, by origin: RegionID, volume: VolumeSpec, now: Instant, neverUsed: (BlockKey) -> Bool,
        held: (BlockKey) -> (any Sendable)?
    ) -> FreshHandOver?

    // MARK: This node's clients

    /// Whether the policy learns when this node's clients use each block, and moves blocks
    /// ahead of that use (predictions).
    var predicts: Bool { get }
    /// This node's client used the block.
    mutating func clientUsed(_ key: BlockKey, wallMs: Int64)
    /// How often the node asks for predictions, and how long a block moved on one stays
    /// reserved for this region.
    var predictIntervalMs: Double { get }
    var predictReserveMs: Double { get }
    /// The blocks this node's clients will likely start using soon and that are due to move
    /// now, at wall-clock `wallMs`, and why; the node moves those held elsewhere. `heldAt`:
    /// the region a block is held in and its size (nil: not in another region).
    func predictions(
        wallMs: Int64, pricing: MovePricing, heldAt: (BlockKey) -> (region: RegionID, blockBytes: UInt64)?
    ) -> [(key: BlockKey, reason: MoveReason)]
}

extension PlacementPolicy {
    public var decidesAtOrigin: Bool { false }
    public func slowAfterMs(localMs: Double) -> Double? { nil }
    public func stealAtOrigin(samples: Deque<BlockHeat.LatencySample>, localMs: Double, now: Instant) -> MoveReason? { nil }
    public var decidesAtHolder: Bool { false }
    public var keepsCooldown: Bool { false }
    public var minHandOverIntervalMs: Double? { nil }
    /// A policy that counts no use sends none, dated now.
    public func carried(_ stats: inout BlockStats, now: Instant) -> RegionRates {
        var none = RegionRates()
        none.at = now
        return none
    }
    public func mayExplain(_ stats: inout BlockStats, now: Instant) -> Bool { false }
    public mutating func handedOver(_ key: BlockKey, to region: RegionID, now: Instant) {}
    public mutating func beginGroupMove(_ volume: VolumeName, now: Instant) -> Int { 0 }
    public func joins(_ stats: inout BlockStats, _ decision: HandOverDecision, now: Instant) -> Bool { false }
    public mutating func firstUse(
        _ key: BlockKey, by origin: RegionID, volume: VolumeSpec, now: Instant, neverUsed: (BlockKey) -> Bool,
        held: (BlockKey) -> (any Sendable)?
    ) -> FreshHandOver? { nil }
    public var predicts: Bool { false }
    public mutating func clientUsed(_ key: BlockKey, wallMs: Int64) {}
    public var predictIntervalMs: Double { PolicySettings.Adaptive().predictIntervalMs }
    public var predictReserveMs: Double { 0 }
    public func predictions(
        wallMs: Int64, pricing: MovePricing, heldAt: (BlockKey) -> (region: RegionID, blockBytes: UInt64)?
    ) -> [(key: BlockKey, reason: MoveReason)] { [] }
}

extension PlacementPolicy where BlockStats == NoBlockStats {
    public func startTerm(carried: RegionRates?, reservedUntil: Instant?) -> NoBlockStats { NoBlockStats() }
    public mutating func observe(_ stats: inout NoBlockStats, _ operation: ServedOperation) -> PlacementVerdict { PlacementVerdict() }
}

/// The block state of a policy that keeps none.
public struct NoBlockStats: Sendable, Equatable {
    public init() {}
}

/// One operation a holder serves, as its policy sees it.
public struct ServedOperation {
    public var key: BlockKey
    /// The region of the client that issued it.
    public var origin: RegionID
    /// The holder's region.
    public var holderRegion: RegionID
    /// The regions the block may go to (the volume allows them).
    public var candidates: [RegionID]
    public var now: Instant
    /// Round trips between regions as this node knows them.
    public var rttMs: (RegionID, RegionID) -> Double
    /// What a move costs besides round trips.
    public var costs: MoveCosts
    public init(
        key: BlockKey, origin: RegionID, holderRegion: RegionID, candidates: [RegionID], now: Instant,
        rttMs: @escaping (RegionID, RegionID) -> Double, costs: MoveCosts = MoveCosts(localMs: 0.05, blockBytes: 1 << 20)
    ) {
        self.key = key
        self.origin = origin
        self.holderRegion = holderRegion
        self.candidates = candidates
        self.now = now
        self.rttMs = rttMs
        self.costs = costs
    }
}

/// What a holder's policy concluded from one operation: hand the block over, and a candidate
/// it looked at and left (reported at most once per block per interval), each with its numbers.
public struct PlacementVerdict: Sendable, Equatable {
    public var handOver: HandOverDecision?
    public var declined: DeclinedCandidate?
    public init(handOver: HandOverDecision? = nil, declined: DeclinedCandidate? = nil) {
        self.handOver = handOver
        self.declined = declined
    }
}

/// What the adaptive policy knows about a move besides the operation's region.
public struct MoveCosts: Sendable {
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

/// What a node knows to price a move of a block to itself: its region, round trips as it knows
/// them, its local latency and its round trip to Hive (`costs`), and every region and block
/// size a block may come from.
public struct MovePricing {
    public var here: RegionID
    public var rttMs: (RegionID, RegionID) -> Double
    public var costs: MoveCosts
    public var sources: [(region: RegionID, blockBytes: UInt64)]
}

/// A candidate the policy looked at and did not move the block to, and the numbers why.
public struct DeclinedCandidate: Sendable, Hashable {
    public var to: RegionID
    public var reason: DeclineReason
}

/// A decision to hand the block over, and the numbers behind it.
public struct HandOverDecision: Sendable, Equatable {
    public var to: RegionID
    public var reason: MoveReason
    /// Adaptive: the decision was the volume's (co-access): the holder hands over, with this
    /// block, the volume's other blocks held here that `joins` accepts.
    public var withVolume = false
    /// Which other blocks go too (idle ones only when the target region made nearly all the
    /// volume's recent use here, else two regions sharing a volume would swap them).
    public var join = AdaptivePolicy.JoinRule.uncontested(idle: false, evidence: 0)
    public init(to: RegionID, reason: MoveReason, withVolume: Bool = false, join: AdaptivePolicy.JoinRule = .uncontested(idle: false, evidence: 0)) {
        self.to = to
        self.reason = reason
        self.withVolume = withVolume
        self.join = join
    }
}

/// Never-used blocks a home node hands to a region with its first use, nearest first, and why.
public struct FreshHandOver: Sendable, Equatable {
    public var reason: MoveReason
    /// Each block, and whether the home node takes it up first (nobody used it: the home node
    /// holds it at epoch 0 as a first operation would).
    public var blocks: [(block: BlockID, takeUp: Bool)]
    /// At most this many of them are handed over.
    public var limit: Int
    public static func == (a: Self, b: Self) -> Bool {
        a.reason == b.reason && a.limit == b.limit && a.blocks.map(\.block) == b.blocks.map(\.block)
            && a.blocks.map(\.takeUp) == b.blocks.map(\.takeUp)
    }
}

extension PolicyName {
    /// The policy of this name with its settings. `oracle` places nothing itself: the simulator
    /// runs its schedule through `NodeCore.requestSteal`.
    public func placement(settings: PolicySettings, migration: MigrationConfig, policy: PolicyConfig) -> any PlacementPolicy {
        switch self {
        case .static, .oracle: StaticPlacement(name: self)
        case .tiers: TiersPolicy(migration: migration, policy: policy)
        case .crdbFtw: CrdbFollowTheWorkload(settings.crdbFtw)
        case .wpaxosConsecutive: WPaxosConsecutive(settings.wpaxos)
        case .wpaxosMajority: WPaxosMajority(settings.wpaxos)
        case .adaptive: AdaptivePolicy(settings.adaptive, predictive: migration.predictiveMigration)
        }
    }
}

// Type-erased calls: NodeCore keeps `any PlacementPolicy` and each held block's state as
// `any Sendable`; these open the policy's own types. A state of another type (never made by
// this policy) is replaced by a fresh term's.
extension PlacementPolicy {
    func startTermErased(carried: RegionRates?, reservedUntil: Instant?) -> any Sendable {
        startTerm(carried: carried, reservedUntil: reservedUntil)
    }
    private func opened(_ erased: (any Sendable)?) -> BlockStats {
        erased as? BlockStats ?? startTerm(carried: nil, reservedUntil: nil)
    }
    mutating func observeErased(_ erased: inout (any Sendable)?, _ operation: ServedOperation) -> PlacementVerdict {
        var stats = opened(erased)
        defer { erased = stats }
        return observe(&stats, operation)
    }
    func carriedErased(_ erased: inout (any Sendable)?, now: Instant) -> RegionRates {
        var stats = opened(erased)
        defer { erased = stats }
        return carried(&stats, now: now)
    }
    func mayExplainErased(_ erased: inout (any Sendable)?, now: Instant) -> Bool {
        var stats = opened(erased)
        defer { erased = stats }
        return mayExplain(&stats, now: now)
    }
    func joinsErased(_ erased: inout (any Sendable)?, _ decision: HandOverDecision, now: Instant) -> Bool {
        var stats = opened(erased)
        defer { erased = stats }
        return joins(&stats, decision, now: now)
    }
}
