import DequeModule

/// Per-block access statistics as one node sees them (DESIGN §4 "heat"): operations and bytes
/// per region, the last access, and recent latency samples of forwarded writes.
public struct BlockHeat: Sendable, Equatable {
    public struct RegionCounts: Sendable, Equatable {
        public var writes: UInt64 = 0
        public var reads: UInt64 = 0
        public var bytes: UInt64 = 0
    }

    /// One forwarded write's latency. While the write is unanswered the sample holds the time
    /// elapsed so far, a lower bound; the reply makes it exact.
    public struct LatencySample: Sendable, Equatable {
        public var request: RequestID
        public var issuedAt: Instant
        public var latencyMs: Double
        public var exact: Bool
    }

    public private(set) var byRegion: [RegionID: RegionCounts] = [:]
    public private(set) var lastAccess: HLCTimestamp = .zero
    /// The newest samples, oldest first; at most `maxSamples`.
    public private(set) var samples: Deque<LatencySample> = []
    public static let maxSamples = 32

    public init() {}

    public mutating func record(region: RegionID, isWrite: Bool, bytes: UInt64, at hlc: HLCTimestamp) {
        func count(_ counts: inout RegionCounts) {
            if isWrite { counts.writes += 1 } else { counts.reads += 1 }
            counts.bytes += bytes
        }
        count(&byRegion[region, default: RegionCounts()])  // one lookup, in place
        lastAccess = max(lastAccess, hlc)
    }

    /// Adds or updates the sample of a forwarded write.
    public mutating func sample(_ request: RequestID, issuedAt: Instant, latencyMs: Double, exact: Bool) {
        if let i = samples.lastIndex(where: { $0.request == request }) {
            samples[i].latencyMs = max(samples[i].latencyMs, latencyMs)
            samples[i].exact = exact
            return
        }
        samples.append(LatencySample(request: request, issuedAt: issuedAt, latencyMs: latencyMs, exact: exact))
        if samples.count > Self.maxSamples { samples.removeFirst() }
    }

    /// Forgets the samples: after a move or a declined steal the count starts again.
    public mutating func clearSamples() { samples.removeAll() }
}

/// The node's expected latency of a local write (persist + in-region quorum), measured on the
/// writes it commits and by probes when it holds nothing. Never below `floorMs`, so a factor
/// never divides by a rounded zero (the seed's `as_millis()` bug).
public struct LocalLatency: Sendable, Equatable {
    public let floorMs: Double
    public private(set) var estimateMs: Double?
    public init(floorMs: Double) { self.floorMs = floorMs }

    /// Exponentially weighted: recent measurements count most, one outlier does not dominate.
    public mutating func observe(_ ms: Double) {
        estimateMs = estimateMs.map { 0.8 * $0 + 0.2 * ms } ?? ms
    }

    public var expectedMs: Double { max(floorMs, estimateMs ?? floorMs) }
}
