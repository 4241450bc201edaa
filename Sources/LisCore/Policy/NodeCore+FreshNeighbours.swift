/// Adaptive's never-used-neighbours rule at the home node (docs/POLICY.md): only the volume's
/// home node, which held every never-moved block from the start, can know that nobody used a
/// block; when another region's first uses of such blocks cluster, it hands that region the
/// never-used blocks around them (`AdaptivePolicy.firstUse`, `AdaptivePolicy.freshWindow`).
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
    /// it up for it): the policy may hand `origin` the never-used blocks around it.
    mutating func onFirstUse(_ key: BlockKey, by origin: RegionID, candidates: [RegionID]) {
        guard origin != region, candidates.contains(origin), let volume = volume(key), let target = handOverTarget(in: origin)
        else { return }
        // The policy reads blocks through a snapshot while it changes (copy-on-write: nothing is copied).
        let core = self
        var policy = placement
        let fresh = policy.firstUse(
            key, by: origin, volume: volume, now: now, neverUsed: { core.neverUsed($0) },
            held: { core.blocks[$0]?.holding?.policyStats })
        placement = policy
        guard let fresh else { return }
        var moved = 0
        for (block, takeUp) in fresh.blocks where moved < fresh.limit {
            let other = BlockKey(key.volume, block)
            // Taken up at epoch 0 as a first operation would, then handed over.
            if takeUp, let home = map.homeRecord(of: other) { takeUpAtHome(other, home) }
            if handOver(other, to: target, reason: fresh.reason) { moved += 1 }
        }
    }
}
