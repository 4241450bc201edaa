import LisCore

/// What a trace operation asks of a volume: the three NBD commands the simulator replays.
public enum OpKind: String, Sendable, CaseIterable {
    case write
    case read
    /// Makes every acknowledged write durable (DESIGN §3); it has no byte range.
    case flush
}

/// One operation of a workload trace, issued open-loop at `tMs`: the simulator starts it at
/// that virtual time whether or not earlier operations have finished, so a slow holder shows
/// up as latency instead of silently thinning the load.
public struct TraceOp: Sendable, Equatable {
    /// Virtual time in milliseconds since the start of the run. Kept to whole microseconds
    /// (the simulator's clock resolution), which is what `trace.jsonl` can write back exactly.
    public var tMs: Double
    /// The region whose node the client is attached to.
    public var region: RegionID
    /// A free-form client label (`vm-boot`, `student`), used to group latency reports.
    public var client: String
    public var op: OpKind
    public var volume: VolumeName
    /// Byte offset within the volume; 0 for a flush.
    public var offset: UInt64
    /// Bytes read or written; 0 for a flush.
    public var length: UInt64

    public init(
        tMs: Double, region: RegionID, client: String, op: OpKind, volume: VolumeName,
        offset: UInt64, length: UInt64
    ) {
        self.tMs = tMs
        self.region = region
        self.client = client
        self.op = op
        self.volume = volume
        self.offset = offset
        self.length = length
    }

    /// The latest time a trace may use. Keeping the microsecond count below 2^53 means a
    /// `Double` holds it exactly, so times round-trip through `trace.jsonl` unchanged.
    public static let maxTimeMs: Double = 1e12

    /// `ms` rounded to whole microseconds: the canonical form every trace time takes.
    static func canonicalTimeMs(_ ms: Double) -> Double {
        (ms * 1000).rounded() / 1000
    }
}
