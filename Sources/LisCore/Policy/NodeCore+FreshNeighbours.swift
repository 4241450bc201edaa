/// Adaptive's never-used-neighbours rule at the home node (docs/POLICY.md): only the volume's
/// home node, which held every never-moved block from the start, can know that nobody used a
/// block; when another region's first uses of such blocks cluster, it hands that region the
/// never-used blocks around them (`HolderPolicy.freshWindow`).
extension NodeCore {
    /// Whether nobody ever used the block: this home node never served, stored, promised or
    /// handed it on, and it is not a restarted node (whose memory of that is gone).
    func neverUsed(_ key: BlockKey) -> Bool {
        guard !restarted, let home = map.homeRecord(of: key), home.holder == id else { return false }
        guard let s = blocks[key] else { return true }
        return s.holding == nil && s.steal == nil && s.route == nil && s.hint == nil && s.promised == .zero
            && s.position == .empty && s.lastHeld == nil && s.queue.isEmpty && s.parked.isEmpty
    }

    /// An operation from `origin` was the first anyone made on the block (this home node took
    /// it up for it): count it, and hand `origin` the window of never-used blocks its first
    /// uses point to, if they cluster.
    mutating func onFirstUse(_ key: BlockKey, by origin: RegionID, candidates: [RegionID]) {
        guard policyName.learnsUse, holderPolicy.predictive, origin != region, candidates.contains(origin),
            let volume = volume(key), let target = map.homeNode(of: origin)
        else { return }
        var stats = volumeStats[volume.name, default: HolderPolicy.VolumeStats()]
        var fresh = stats.fresh[origin, default: HolderPolicy.FreshTouches()]
        fresh.touch(key.block.index, now: now)
        stats.fresh[origin] = fresh
        volumeStats[volume.name] = stats
        // A volume whose operations here mostly land on blocks several regions use (a log's
        // head) gives no region a run of its own.
        guard !stats.blocksShared else { return }
        let others = stats.fresh.filter { $0.key != origin }.values
        let core = self  // a snapshot for the test (copy-on-write: nothing is copied)
        let isFree = { (i: UInt64) -> Bool in
            let other = BlockKey(key.volume, BlockID(i))
            if fresh.owns(i) {
                // The region's own first uses stay its own while nobody else uses them.
                guard let rates = core.blocks[other]?.holding?.policyStats.rates else { return true }
                return !HolderPolicy.RegionRates.contested(rates.long, for: origin)
            }
            // A block another region used first is not this region's to take.
            return core.neverUsed(other) && !others.contains { $0.owns(i) }
        }
        guard let found = HolderPolicy.freshWindow(fresh, blockCount: volume.blockCount, free: isFree) else { return }
        let handed = fresh.handed.map { min($0.lowerBound, found.window.lowerBound)...max($0.upperBound, found.window.upperBound) } ?? found.window
        volumeStats[volume.name]?.fresh[origin]?.handed = handed
        let centre = (found.window.lowerBound + found.window.upperBound) / 2
        let order = found.window.sorted { a, b in
            let (da, db) = (a > centre ? a - centre : centre - a, b > centre ? b - centre : centre - b)
            return da != db ? da < db : a < b
        }
        let reason = MoveReason.neverUsedNeighbours(region: origin, found, significance: HolderPolicy.adaptiveFreshSignificance)
        var moved = 0
        for i in order where moved < HolderPolicy.adaptiveGroupLimit {
            let other = BlockKey(key.volume, BlockID(i))
            if neverUsed(other), let home = map.homeRecord(of: other) {
                // Taken up at epoch 0 as a first operation would, then handed over.
                takeUpAtHome(other, home)
            } else if !(fresh.owns(i) && isFree(i)) {
                continue
            }
            if handOver(other, to: target, reason: reason) { moved += 1 }
        }
    }
}
