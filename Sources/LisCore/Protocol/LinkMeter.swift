/// One node's knowledge of the round trips between regions (PROTOCOL.md "ping / pong"): its
/// own smoothed measurements to every other region, what the node it asks in each region
/// reported of that region's links, and the probes still unanswered.
struct LinkMeter: Sendable {
    /// How often a node measures its round trip to each other region, and how much a new
    /// sample weighs in the smoothed value.
    static let probeIntervalMs = 10_000.0
    static let smoothing = 0.25

    let region: RegionID
    /// Measured round trips to other regions, smoothed.
    private(set) var measuredMs: [RegionID: Double] = [:]
    /// What the node answering in each other region last reported of its own measurements.
    private(set) var reportedMs: [RegionID: [RegionID: Double]] = [:]
    private var probes: [UInt64: (region: RegionID, sentAt: Instant)] = [:]

    init(region: RegionID) { self.region = region }

    /// A new round of probes: one not answered by now is forgotten (lost, or its region is
    /// cut off).
    mutating func startRound() { probes.removeAll() }

    /// A `ping` with this nonce went to a node of `other` now.
    mutating func sent(_ nonce: UInt64, to other: RegionID, at now: Instant) { probes[nonce] = (other, now) }

    /// The `pong` for a probe arrived now, with the answering node's own measurements.
    mutating func answered(_ nonce: UInt64, reports: [RegionRtt], at now: Instant) {
        guard let probe = probes.removeValue(forKey: nonce) else { return }
        let sample = (now - probe.sentAt).ms
        measuredMs[probe.region] = measuredMs[probe.region].map { $0 + Self.smoothing * (sample - $0) } ?? sample
        // Only values a round trip can have: a bad report must not steer the policy.
        let valid = reports.filter { $0.region != probe.region && $0.ms.isFinite && $0.ms >= 0 }
        reportedMs[probe.region] = Dictionary(valid.map { ($0.region, $0.ms) }, uniquingKeysWith: { _, last in last })
    }

    /// This node's measurements, for its `pong`, in region order.
    var report: [RegionRtt] { measuredMs.sorted(by: { $0.key < $1.key }).map { RegionRtt($0.key, ms: $0.value) } }

    /// Round trips as this node knows them, with the topology's table where it knows nothing.
    func known(table: @escaping @Sendable (RegionID, RegionID) -> Double) -> KnownRtts {
        KnownRtts(region: region, measured: measuredMs, reported: reportedMs, table: table)
    }
}

/// Round trips between regions as one node knows them: measured for its own region's links;
/// for a link between two other regions, what their nodes last reported of it (the mean when
/// both ends did); the topology's table until then.
struct KnownRtts {
    let region: RegionID
    let measured: [RegionID: Double]
    let reported: [RegionID: [RegionID: Double]]
    let table: @Sendable (RegionID, RegionID) -> Double

    func rttMs(_ a: RegionID, _ b: RegionID) -> Double {
        if a == b { return table(a, b) }
        if a == region, let m = measured[b] { return m }
        if b == region, let m = measured[a] { return m }
        let reports = [reported[a]?[b], reported[b]?[a]].compactMap { $0 }
        return reports.isEmpty ? table(a, b) : reports.reduce(0, +) / Double(reports.count)
    }
}
