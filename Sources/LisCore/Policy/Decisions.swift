/// The records of placement decisions: why a steal started or a block moved, why a policy
/// left a block where it is, why a steal stopped — each with the numbers it was decided on.
/// They are values, not prose: the core and the wire carry them as they are, and whoever shows
/// them renders them (`lis sim`'s reports through LisSim's `Explanation`, node logs, later the
/// dashboard).

/// One region's operations per second on a block or a volume, as a decision saw them.
public struct RegionRate: Hashable, Sendable, Codable {
    public var region: RegionID
    public var perSecond: Double
    public init(_ region: RegionID, _ perSecond: Double) {
        self.region = region
        self.perSecond = perSecond
    }
}

/// Why a steal started (and, once it succeeds, why the block moved).
public indirect enum MoveReason: Hashable, Sendable, Codable {
    /// The origin's tiers rule counted enough slow writes.
    case tiers(TiersPolicy.Decision)
    /// CockroachDB's rule: log10(remote ÷ local requests) × ln(1 + RTT) passed the threshold.
    case crdbFtw(score: Double, threshold: Double, target: RegionID, targetRequests: Double, holder: RegionID, holderRequests: Double, rttMs: Double)
    /// WPaxos: this many consecutive operations came from the region.
    case wpaxosConsecutive(run: Int, from: RegionID)
    /// WPaxos (majority): the region made most accesses of the interval.
    case wpaxosMajority(region: RegionID, count: Int, total: Int, intervalMs: Double)
    /// Adaptive, on the block's own rates: mean latency here and there, the saving over the
    /// horizon and the move's cost.
    case adaptive(hereMs: Double, thereMs: Double, rates: [RegionRate], savingMs: Double, horizonMs: Double, costMs: Double)
    /// Adaptive co-access: the region's operations on the volume's blocks here pay for moving them.
    case coAccess(region: RegionID, perSecond: Double, volumeRates: [RegionRate], savingMs: Double, horizonMs: Double, costMs: Double)
    /// Adaptive co-access: the region took this many of the volume's blocks lately (decayed)
    /// and alone uses this one.
    case coAccessTaken(region: RegionID, blocks: Double)
    /// Adaptive's never-used-neighbours rule: the region's first uses cluster.
    case neverUsedNeighbours(region: RegionID, AdaptivePolicy.FreshWindow, significance: Double)
    /// Adaptive's prediction: this region started using the block at this minute of the day
    /// (UTC) this many days ago.
    case prediction(minuteOfDay: Int, daysAgo: Int)
    /// The block goes with another block its volume's decision moved.
    case movesWith(BlockKey, MoveReason)
    /// The holder asked this node to take the block, for its reason.
    case handedOver(by: NodeID, MoveReason)
    /// This node renews its own claim that stalled.
    case renewingStalledClaim
    /// Hive names this node in a claim it has not acted on: a holder's hand-over whose
    /// message has not arrived, or this node's own claim whose answer was lost.
    case adoptingClaim
    /// This node restarted and takes a new epoch before serving the block again.
    case renewingAfterRestart
    /// Another node's claim stalled while operations waited for it, or the holder's membership
    /// lapsed in Hive (it died or is cut off) while operations waited for it.
    case takingOver(NodeID)
    /// Whoever asked (the simulator's oracle schedule, a test), with their note.
    case requested(String)
    /// An operator moved the block here (`lis block move`, through this node's API or the
    /// named node's).
    case operatorMove(via: NodeID)
}

/// Why a holder-side policy left the block where it is when another region used it.
public indirect enum DeclineReason: Hashable, Sendable, Codable {
    /// The block came on a prediction and stays until then.
    case reserved(untilMs: Double)
    /// The saving over the horizon is under the margin times the move's cost.
    case savesTooLittle(savingMs: Double, horizonMs: Double, margin: Double, costMs: Double)
    /// The mean latency there is not enough better than here.
    case slowerThere(thereMs: Double, improvement: Double, hereMs: Double)
    /// The move would pay at the block's rates, but the operation was its region's first on the
    /// block lately: one operation measures no rate.
    case firstOperation(region: RegionID, savingMs: Double, horizonMs: Double, margin: Double, costMs: Double)
    /// Too few operations on the block to tell, on a volume whose blocks are shared.
    case tooFewOperations(count: Double, evidence: Double)
    /// Not enough better there at the long-term rates.
    case slowerThereLongTerm(thereMs: Double, improvement: Double, hereMs: Double)
    /// Other regions made this share of the long-term use, and the long-term saving is short.
    case contested(othersPercent: Double, longSavingMs: Double, margin: Double, costMs: Double)
    /// The region passed every test but another region would save more.
    case anotherSavesMore
    /// The block's own rates said no, and `predictive_migration` is off (no co-access).
    case noCoAccess(DeclineReason)
    /// The block's own rates said no, and co-access did not pay (nor had the region taken
    /// enough of the volume's blocks lately).
    case coAccessShort(
        DeclineReason, region: RegionID, perSecond: Double, savingMs: Double, margin: Double, costMs: Double, taken: Double,
        takenNeeded: Double, rates: [RegionRate])
    /// The block's own rates said no, and the block is not the region's alone.
    case notAlone(DeclineReason, region: RegionID, volumeShared: Bool, rates: [RegionRate])
    /// A decision to move held back by the per-block cooldown.
    case cooldown(agoMs: Double, cooldownMs: Double, MoveReason)
}

/// Why a steal stopped without moving the block.
public enum StealEnd: Hashable, Sendable, Codable {
    /// Hive could not be reached or refused for its own reason (pinning), with its message.
    case hiveUnavailable(String)
    /// Hive's record had changed: another claim or holder (nil: the home, never moved).
    case claimRefused(current: LeaseRecord?)
    case activationRefused(current: LeaseRecord?)
    /// A node had promised a newer epoch.
    case fenceRefused(by: NodeID, promised: Epoch)
    case installRefused(by: NodeID, promised: Epoch)
    /// A newer record took over this node's claim.
    case superseded(LeaseRecord)
    /// This node's own copy held the best position the fence found, and has changed since.
    case copyChanged(reported: LogPosition, now: LogPosition)
}
