/// A hybrid logical clock timestamp (Kulkarni et al., "Logical Physical Clocks", OPODIS 2014):
/// physical milliseconds plus a logical counter that breaks ties and absorbs clock skew.
///
/// Laws (tested): timestamps a node issues strictly increase; an issued timestamp is never
/// below the physical clock reading; after receiving `m`, the next timestamp is above `m`.
public struct HLCTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public var physicalMs: Int64
    public var logical: UInt32
    public init(physicalMs: Int64, logical: UInt32) {
        self.physicalMs = physicalMs
        self.logical = logical
    }
    public static let zero = HLCTimestamp(physicalMs: 0, logical: 0)
    public var description: String { "\(physicalMs).\(logical)" }
    public static func < (a: HLCTimestamp, b: HLCTimestamp) -> Bool {
        a.physicalMs != b.physicalMs ? a.physicalMs < b.physicalMs : a.logical < b.logical
    }
}

/// The clock state of one node. The physical reading is an argument, never read here.
public struct HybridLogicalClock: Sendable {
    public private(set) var last: HLCTimestamp = .zero
    public init() {}

    /// A timestamp for a local or send event at physical time `physicalMs`.
    public mutating func now(physicalMs: Int64) -> HLCTimestamp {
        if physicalMs > last.physicalMs {
            last = HLCTimestamp(physicalMs: physicalMs, logical: 0)
        } else {
            last = Self.bump(last)
        }
        return last
    }

    /// Merges a timestamp received in a message and returns the receive event's timestamp.
    public mutating func receive(_ remote: HLCTimestamp, physicalMs: Int64) -> HLCTimestamp {
        let top = max(last.physicalMs, remote.physicalMs, physicalMs)
        if top == last.physicalMs && top == remote.physicalMs {
            last = HLCTimestamp(physicalMs: top, logical: max(last.logical, remote.logical))
            last = Self.bump(last)
        } else if top == last.physicalMs {
            last = Self.bump(last)
        } else if top == remote.physicalMs {
            last = Self.bump(remote)
        } else {
            last = HLCTimestamp(physicalMs: top, logical: 0)
        }
        return last
    }

    /// One logical tick; the counter saturating carries into the physical part rather than
    /// wrapping, so the clock still never goes back.
    private static func bump(_ t: HLCTimestamp) -> HLCTimestamp {
        t.logical == UInt32.max
            ? HLCTimestamp(physicalMs: t.physicalMs + 1, logical: 0)
            : HLCTimestamp(physicalMs: t.physicalMs, logical: t.logical + 1)
    }
}
