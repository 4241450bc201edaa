import LisCore

/// The physical model of a simulated run: what links, disks and Hive cost. Defaults model
/// NVMe disks, 1 Gbit/s WAN links between node pairs and an etcd-like Hive.
public struct SimParameters: Sendable, Equatable {
    /// One way between a client and its node (same host: a unix socket).
    public var clientLinkMs = 0.01
    /// Writing a record into the page cache / WAL buffer, drawn uniformly in this range.
    public var diskWriteMs: ClosedRange<Double> = 0.02...0.04
    /// An fsync, drawn uniformly in this range.
    public var fsyncMs: ClosedRange<Double> = 0.2...0.6
    /// Sequential disk bandwidth for installing transfers, bytes per ms.
    public var diskBytesPerMs: Double = 1_000_000
    /// Each message's propagation delay is stretched by up to this fraction (uniform).
    public var jitterFraction = 0.05
    /// Link bandwidth between two nodes in different regions / the same region, bytes per ms.
    public var wanBytesPerMs: Double = 125_000
    public var lanBytesPerMs: Double = 1_250_000
    /// Hive's time to apply one call once it arrives (a consensus commit in its region).
    public var hiveCommitMs = 0.5
    /// How long a node waits for Hive's answer before it gives up (an etcd client's timeout);
    /// only a faulty network or a Hive outage makes it wait that long.
    public var hiveTimeoutMs = 1000.0
    /// Bytes of framing on every message.
    public var messageHeaderBytes = 64
    /// How long after the last trace operation the run may go on draining.
    public var drainMs = 60_000.0

    public init() {}
}
