/// A small, fast, seedable generator (SplitMix64, Steele et al. 2014). The core never creates
/// randomness; whoever drives it owns one of these and passes it in, so a seed replays a run.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// An independent generator derived from this one, for a sub-stream (one per link, per
    /// node, …) so that adding draws to one stream does not shift the others.
    public mutating func fork() -> SeededRandom { SeededRandom(seed: next()) }
}
