/// Lis's own policy, `adaptive` (docs/POLICY.md): it decides at the holder, from per-region
/// rates of the operations it serves on each block and on each volume, whether a move saves
/// more latency than it costs (`AdaptivePolicy+Rates`); blocks used together move together
/// (co-access); a region's first uses of never-used blocks take their never-used neighbours
/// along (`AdaptivePolicy+Fresh`); and a node moves blocks here shortly before its clients
/// usually start using them (`ActivityProfile`). Its tunables are `PolicySettings.Adaptive`.
///
/// The holder cannot steal from itself; it hands the block over: it asks a node of the chosen
/// region to steal it (`PeerMessage.handOver`), and that steal follows the protocol like any other.
public struct AdaptivePolicy: PlacementPolicy {
    public typealias Settings = PolicySettings.Adaptive
    public let settings: Settings
    /// `predictive_migration`: adaptive may move blocks ahead of their own demand — the blocks
    /// of a volume a region is taking over (co-access), the never-used neighbours of a
    /// region's first uses — and a node arms its time-of-day predictions. Off: every move is
    /// decided on the block's own operations.
    public let predictive: Bool

    /// Per volume at this holder: its operations per region, and the blocks handed to each
    /// region lately (co-access), and each region's first uses of never-used blocks.
    var volumes: [VolumeName: VolumeStats] = [:]
    /// When this holder last moved each volume's blocks together.
    var lastGroupMoveAt: [VolumeName: Instant] = [:]
    /// When this node's own clients used each block (predictions).
    var activity: [BlockKey: ActivityProfile] = [:]

    public init(_ settings: Settings = Settings(), predictive: Bool = true) {
        self.settings = settings
        self.predictive = predictive
    }

    public var name: PolicyName { .adaptive }
    public var decidesAtHolder: Bool { true }
    public var keepsCooldown: Bool { true }
    public var predicts: Bool { predictive }

    /// What the holder remembers about a block it holds; a new term starts empty, or with the
    /// use a hand-over carried.
    public struct BlockStats: Sendable, Equatable {
        /// This block's operations per region.
        var rates = RegionRates()
        /// The block came here on a prediction; it stays until then.
        public var reservedUntil: Instant?
        var explainedAt: Instant?
        public init() {}

        /// Whether a declined candidate may be reported now (one per `explainIntervalMs`); if
        /// so, counts it as reported.
        mutating func explain(now: Instant, _ s: Settings) -> Bool {
            guard explainedAt.map({ (now - $0).ms >= s.explainIntervalMs }) ?? true else { return false }
            explainedAt = now
            return true
        }
    }

    public func startTerm(carried: RegionRates?, reservedUntil: Instant?) -> BlockStats {
        var stats = BlockStats()
        stats.reservedUntil = reservedUntil
        if let carried { stats.rates = carried }
        return stats
    }

    /// Records one operation the holder serves and says whether the block should go to another
    /// region now, and which candidate it declined (at most one record per block per
    /// `explainIntervalMs`).
    public mutating func observe(_ stats: inout BlockStats, _ op: ServedOperation) -> PlacementVerdict {
        let now = op.now
        var volume = volumes[op.key.volume, default: VolumeStats()]
        defer { volumes[op.key.volume] = volume }
        stats.rates.decay(to: now, settings)
        let returning = stats.rates.usedLately(by: op.origin)
        // Whether this operation landed on a block a co-access move to its region would have
        // carried, as the block and the volume stood before it.
        let reserved = stats.reservedUntil.map { now < $0 } ?? false
        if !reserved, joinsMove(stats.rates, to: op.origin, rule: volume.joinRule(to: op.origin, settings)) {
            volume.inGroup.add(op.origin, now: now, settings)
        } else {
            volume.inGroup.decay(to: now, settings)
        }
        volume.count(op.origin, contested: RegionRates.contested(stats.rates.long, for: op.origin, settings), now: now, settings)
        stats.rates.add(op.origin, now: now, settings)
        volume.rates.add(op.origin, now: now, settings)
        volume.taken.decay(to: now, settings)
        let explain = op.origin != op.holderRegion && (stats.explainedAt.map { (now - $0).ms >= settings.explainIntervalMs } ?? true)
        if let until = stats.reservedUntil, now < until {
            if explain, stats.explain(now: now, settings) {
                return PlacementVerdict(declined: DeclinedCandidate(to: op.origin, reason: .reserved(untilMs: until.ms)))
            }
            return PlacementVerdict()
        }
        let (decision, declined) = decide(
            stats.rates, volume: volume, origin: op.origin, returning: returning, holderRegion: op.holderRegion,
            candidates: op.candidates, rttMs: op.rttMs, costs: op.costs, explain: explain)
        var verdict = PlacementVerdict(handOver: decision)
        if let declined, stats.explain(now: now, settings) { verdict.declined = DeclinedCandidate(to: op.origin, reason: declined) }
        return verdict
    }

    public func carried(_ stats: inout BlockStats, now: Instant) -> RegionRates {
        var rates = stats.rates
        rates.decay(to: now, settings)
        return rates
    }

    public func mayExplain(_ stats: inout BlockStats, now: Instant) -> Bool { stats.explain(now: now, settings) }

    public mutating func handedOver(_ key: BlockKey, to region: RegionID, now: Instant) {
        volumes[key.volume, default: VolumeStats()].handedOver(to: region, now: now, settings)
    }

    public mutating func beginGroupMove(_ volume: VolumeName, now: Instant) -> Int {
        if let last = lastGroupMoveAt[volume], (now - last).ms < settings.groupIntervalMs { return 0 }
        lastGroupMoveAt[volume] = now
        return settings.groupLimit
    }

    /// Whether a block held here goes along when its volume moves (`JoinRule`); not one that
    /// came on a prediction and is still reserved.
    public func joins(_ stats: inout BlockStats, _ decision: HandOverDecision, now: Instant) -> Bool {
        if let until = stats.reservedUntil, now < until { return false }
        stats.rates.decay(to: now, settings)
        return joinsMove(stats.rates, to: decision.to, rule: decision.join)
    }

    public mutating func clientUsed(_ key: BlockKey, wallMs: Int64) {
        if let index = activity.index(forKey: key) {
            activity.values[index].record(wallMs: wallMs)  // one lookup per client operation
        } else if activity.count < ActivityProfile.maxBlocks {
            activity[key, default: ActivityProfile()].record(wallMs: wallMs)
        }
    }

    public var predictIntervalMs: Double { settings.predictIntervalMs }
    public var predictReserveMs: Double { settings.predictReserveMs }

    /// Before a 15-minute slot, the blocks this node's clients usually start using in it
    /// (`ActivityProfile`) and have not used in the last two slots — so a region's working day
    /// begins with its working set local. Each is due at the last look (one per
    /// `predictIntervalMs`) that leaves its move time to finish before the slot
    /// (`ActivityProfile.moveNow`), so whoever uses it until then loses little.
    public func predictions(
        wallMs: Int64, pricing: MovePricing, heldAt: (BlockKey) -> (region: RegionID, blockBytes: UInt64)?
    ) -> [(key: BlockKey, reason: MoveReason)] {
        func moveMs(from holder: RegionID, blockBytes: UInt64) -> Double {
            var costs = pricing.costs
            costs.blockBytes = blockBytes
            return Self.moveMs(to: pricing.here, from: holder, rttMs: pricing.rttMs, costs: costs, settings)
        }
        let current = ActivityProfile.slot(wallMs: wallMs)
        let untilSlot = Double((current + 1) * ActivityProfile.slotMs - wallMs)
        // The slowest move here bounds whether any block is due now.
        let slowest = pricing.sources.map { moveMs(from: $0.region, blockBytes: $0.blockBytes) }.max() ?? 0
        guard ActivityProfile.moveNow(untilSlotMs: untilSlot, checkIntervalMs: settings.predictIntervalMs, moveMs: slowest) else {
            return []
        }
        var due: [(key: BlockKey, reason: MoveReason)] = []
        for (key, profile) in activity.sorted(by: { $0.key < $1.key }) {
            guard !profile.used(current), !profile.used(current - 1), let day = profile.due(at: current + 1),
                let held = heldAt(key),
                ActivityProfile.moveNow(
                    untilSlotMs: untilSlot, checkIntervalMs: settings.predictIntervalMs, moveMs: moveMs(from: held.region, blockBytes: held.blockBytes))
            else { continue }
            let minutes = (current + 1) % ActivityProfile.slotsPerDay * 15
            due.append((key, .prediction(minuteOfDay: Int(minutes), daysAgo: Int(day))))
        }
        return due
    }
}
