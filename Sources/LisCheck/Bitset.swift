/// A fixed-size set of small integers (operation indices within a partition): the
/// "linearized set" of Lowe's memoization, hashed together with the model state.
///
/// The first 128 members live inline, so the sets of typical partitions are copied into the
/// memo without a heap allocation; larger partitions spill into `rest`.
struct Bitset: Hashable, Sendable {
    private var low: UInt64 = 0
    private var high: UInt64 = 0
    private var rest: [UInt64]

    init(count: Int) {
        rest = count > 128 ? Array(repeating: 0, count: (count - 128 + 63) / 64) : []
    }

    mutating func insert(_ index: Int) {
        let bit: UInt64 = 1 << UInt64(index & 63)
        switch index >> 6 {
        case 0: low |= bit
        case 1: high |= bit
        case let word: rest[word - 2] |= bit
        }
    }

    mutating func remove(_ index: Int) {
        let bit: UInt64 = 1 << UInt64(index & 63)
        switch index >> 6 {
        case 0: low &= ~bit
        case 1: high &= ~bit
        case let word: rest[word - 2] &= ~bit
        }
    }

    func contains(_ index: Int) -> Bool {
        let bit: UInt64 = 1 << UInt64(index & 63)
        return switch index >> 6 {
        case 0: low & bit != 0
        case 1: high & bit != 0
        case let word: rest[word - 2] & bit != 0
        }
    }

    /// Whether every member of `self` is a member of `other` (made with the same `count`).
    func isSubset(of other: Bitset) -> Bool {
        guard low & ~other.low == 0, high & ~other.high == 0 else { return false }
        for index in rest.indices where rest[index] & ~other.rest[index] != 0 { return false }
        return true
    }
}
