import DequeModule

/// The seed's rule made exact (DESIGN §4, `policy = "tiers"`): a write is *slow* by the factor
/// remote latency / expected local latency, in fractional units; the block is stolen once
/// enough slow writes of a tier fall within the window. A write counts in the highest tier its
/// factor reaches; tiers are cumulative (a ≥10× write is also ≥5×).
public struct TiersPolicy: Sendable, Equatable {
    public var tiers: [MigrationTier]
    public var windowMs: Double

    public init(migration: MigrationConfig, policy: PolicyConfig) {
        tiers = migration.tiers
        windowMs = policy.slowWriteWindowMs
    }

    /// A decision to steal and the numbers behind it.
    public struct Decision: Sendable, Hashable, Codable {
        public var tier: MigrationTier
        public var slowWrites: Int
        /// The slowest factor among the counted writes (remote latency ÷ local).
        public var minFactor: Double
        public var localMs: Double
    }

    /// The slowest factor a write needs to count at all, or nil if no tier exists.
    public var lowestFactor: Double? { tiers.map(\.minFactor).min() }
    /// The factor of the highest tier: a pending write past it is as slow as any can count.
    public var highestFactor: Double? { tiers.map(\.minFactor).max() }

    /// Whether the samples justify a steal now.
    public func evaluate(samples: some Collection<BlockHeat.LatencySample>, localMs: Double, now: Instant) -> Decision? {
        precondition(localMs > 0, "local latency has a positive floor")
        let recent = samples.filter { (now - $0.issuedAt).ms <= windowMs }
        for tier in tiers.sorted(by: { $0.minFactor > $1.minFactor }) {
            let slow = recent.filter { $0.latencyMs / localMs >= tier.minFactor }
            guard slow.count >= tier.slowWrites else { continue }
            let factors = slow.map { $0.latencyMs / localMs }
            let minFactor = factors.min() ?? 0
            return Decision(tier: tier, slowWrites: slow.count, minFactor: minFactor, localMs: localMs)
        }
        return nil
    }

    /// A number for a decision's reason: at most two decimals, no trailing `.0`.
    public static func fmt(_ x: Double) -> String {
        let r = (x * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(r)
    }
}

extension TiersPolicy: PlacementPolicy {
    public typealias BlockStats = NoBlockStats
    public var name: PolicyName { .tiers }
    public var decidesAtOrigin: Bool { true }
    /// A pending write past the highest tier's factor is as slow as any can count: it counts now.
    public func slowAfterMs(localMs: Double) -> Double? { highestFactor.map { $0 * localMs } }
    public func stealAtOrigin(samples: Deque<BlockHeat.LatencySample>, localMs: Double, now: Instant) -> MoveReason? {
        evaluate(samples: samples, localMs: localMs, now: now).map { .tiers($0) }
    }
}
