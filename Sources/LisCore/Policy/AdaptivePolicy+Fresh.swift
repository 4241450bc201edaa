/// Adaptive's never-used-neighbours rule (docs/POLICY.md): when the blocks a region starts
/// using for the first time cluster in a part of a volume nobody used before, the holder hands
/// that region the never-used blocks around them, before their first write.
extension AdaptivePolicy {
    /// A region's first uses of never-used blocks of one volume at their (home) holder, and the
    /// range of never-used blocks already handed to it.
    public struct FreshTouches: Sendable, Equatable {
        /// Block indices the region used first (nobody had used them), with when; oldest first.
        var touches: [(index: UInt64, at: Instant)] = []
        /// The hull of the windows handed to the region so far.
        var handed: ClosedRange<UInt64>?
        public init() {}

        public static func == (a: Self, b: Self) -> Bool {
            a.handed == b.handed && a.touches.map(\.index) == b.touches.map(\.index) && a.touches.map(\.at) == b.touches.map(\.at)
        }

        /// Records a first use; touches older than the long half-life are forgotten (the region
        /// has moved on), and at most `freshTouches` are kept.
        mutating func touch(_ index: UInt64, now: Instant, _ s: Settings) {
            touches.removeAll { (now - $0.at).ms > s.longHalfLifeMs || $0.index == index }
            if touches.isEmpty { handed = nil }
            touches.append((index, now))
            if touches.count > s.freshTouches { touches.removeFirst(touches.count - s.freshTouches) }
        }

        /// Whether the block belongs to the region's fresh run: touched first by it, or handed to it.
        func owns(_ index: UInt64) -> Bool {
            handed.map { $0.contains(index) } ?? false || touches.contains { $0.index == index }
        }
    }

    /// A window of never-used blocks to hand over, and the numbers behind it.
    public struct FreshWindow: Sendable, Hashable, Codable {
        public var window: ClosedRange<UInt64>
        /// First uses seen, the blocks they span, the never-used run around them (as far as
        /// the test needed to look), and the chance of so tight a cluster by accident.
        public var touches: Int
        public var span: UInt64
        public var run: UInt64
        public var p: Double
    }

    /// The never-used neighbours to hand over, from a region's k ≥ 2 first uses spanning
    /// [lo, hi] (s = hi − lo):
    ///
    /// * They must cluster: if the region's first uses fell uniformly over the run of blocks
    ///   nobody else used around them (U blocks), k of them would lie within s + 1 blocks with
    ///   probability about k × ((s + 1) ÷ U)^(k − 1); the rule acts only when that is
    ///   ≤ `significance` (`freshSignificance`). Scattered first uses never pass; a tight cluster in a
    ///   large never-used area passes at the second use, in a small one only after more.
    /// * The window is the range the cluster most likely covers: for k uniform draws from an
    ///   unknown range, its width is estimated without bias as s × (k + 1) ÷ (k − 1), so the
    ///   window extends s ÷ (k − 1) beyond each end — twice the span at k = 2 (readahead's
    ///   doubling), less as evidence accumulates — and never past a block someone else used.
    ///
    /// `free(i)`: nobody but the region used block i (never used, or the region's own).
    public static func freshWindow(
        _ fresh: FreshTouches, blockCount: UInt64, significance: Double, free: (UInt64) -> Bool
    ) -> FreshWindow? {
        let indices = fresh.touches.map(\.index)
        guard indices.count >= 2, let lo = indices.min(), let hi = indices.max() else { return nil }
        let k = Double(indices.count)
        let s = hi - lo
        // Nobody else used any block between the first uses.
        for i in lo...hi where !free(i) { return nil }
        // How long a run the test needs: k × ((s + 1) / U)^(k − 1) ≤ α ⇔ U ≥ (s + 1) × (k / α)^(1 / (k − 1)).
        let need = Double(s + 1) * Math.power(k / significance, 1 / (k - 1))
        let ext = (s + UInt64(indices.count) - 2) / UInt64(indices.count - 1)  // ⌈s / (k − 1)⌉
        let reach = UInt64(min(need, Double(blockCount)).rounded(.up))
        var left: UInt64 = 0
        while left < max(reach, ext), lo >= left + 1, free(lo - left - 1) { left += 1 }
        var right: UInt64 = 0
        while right < max(reach, ext), hi + right + 1 < blockCount, free(hi + right + 1) { right += 1 }
        let run = s + 1 + left + right
        let p = k * Math.power(Double(s + 1) / Double(run), k - 1)
        guard p <= significance else { return nil }
        let window = (lo - min(ext, left))...(hi + min(ext, right))
        return FreshWindow(window: window, touches: indices.count, span: s + 1, run: run, p: p)
    }

    /// An operation from `origin` was the first anyone made on the block (its home node, this
    /// one, took it up for it): count it, and hand `origin` the window of never-used blocks its
    /// first uses point to, if they cluster. Only the home node, which held every never-moved
    /// block from the start, can know that nobody used a block.
    public mutating func firstUse(
        _ key: BlockKey, by origin: RegionID, volume: VolumeSpec, now: Instant, neverUsed: (BlockKey) -> Bool,
        held: (BlockKey) -> (any Sendable)?
    ) -> FreshHandOver? {
        guard predictive else { return nil }
        var stats = volumes[volume.name, default: VolumeStats()]
        var fresh = stats.fresh[origin, default: FreshTouches()]
        fresh.touch(key.block.index, now: now, settings)
        stats.fresh[origin] = fresh
        volumes[volume.name] = stats
        // A volume whose operations here mostly land on blocks several regions use (a log's
        // head) gives no region a run of its own.
        guard !stats.blocksShared else { return nil }
        let others = stats.fresh.filter { $0.key != origin }.values
        let settings = settings
        func isFree(_ i: UInt64) -> Bool {
            let other = BlockKey(key.volume, BlockID(i))
            if fresh.owns(i) {
                // The region's own first uses stay its own while nobody else uses them.
                guard let rates = (held(other) as? BlockStats)?.rates else { return true }
                return !RegionRates.contested(rates.long, for: origin, settings)
            }
            // A block another region used first is not this region's to take.
            return neverUsed(other) && !others.contains { $0.owns(i) }
        }
        guard let found = Self.freshWindow(fresh, blockCount: volume.blockCount, significance: settings.freshSignificance, free: isFree)
        else { return nil }
        let handed = fresh.handed.map { min($0.lowerBound, found.window.lowerBound)...max($0.upperBound, found.window.upperBound) } ?? found.window
        volumes[volume.name]?.fresh[origin]?.handed = handed
        let centre = (found.window.lowerBound + found.window.upperBound) / 2
        let order = found.window.sorted { a, b in
            let (da, db) = (a > centre ? a - centre : centre - a, b > centre ? b - centre : centre - b)
            return da != db ? da < db : a < b
        }
        var blocks: [(block: BlockID, takeUp: Bool)] = []
        for i in order {
            let other = BlockKey(key.volume, BlockID(i))
            if neverUsed(other) {
                blocks.append((BlockID(i), true))
            } else if fresh.owns(i) && isFree(i) {
                blocks.append((BlockID(i), false))
            }
        }
        return FreshHandOver(
            reason: .neverUsedNeighbours(region: origin, found, significance: settings.freshSignificance), blocks: blocks,
            limit: settings.groupLimit)
    }
}
