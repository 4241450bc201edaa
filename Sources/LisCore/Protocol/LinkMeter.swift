/// One node's knowledge of the round trips between regions (PROTOCOL.md "ping / pong"): its
/// own smoothed measurements to every other region, what the node it asks in each region
/// reported of that region's links, and the probes still unanswered. Also how long this node's
/// calls to Hive take (issue to answer, smoothed the same way) and what each other region
/// reported of its own: a steal costs two of them (claim and activation), so the policy prices
/// a move to a region with that region's Hive round trip.
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
    /// This node's Hive calls, issue to answer, smoothed; nil until one was answered.
    private(set) var hiveMs: Double?
    /// What the node answering in each other region last reported of its Hive calls.
    private(set) var reportedHiveMs: [RegionID: Double] = [:]
    private var hiveCalls: [UInt64: Instant] = [:]

    init(region: RegionID) { self.region = region }

    /// A new round of probes: one not answered by now is forgotten (lost, or its region is
    /// cut off); so is a Hive call unanswered for a whole round.
    mutating func startRound(at now: Instant) {
        probes.removeAll()
        hiveCalls = hiveCalls.filter { (now - $0.value).ms < Self.probeIntervalMs }
    }

    /// A call to Hive went out now.
    mutating func hiveCallSent(_ call: UInt64, at now: Instant) { hiveCalls[call] = now }

    /// Hive answered the call now; `measured`: the answer is Hive's (not a refusal for an
    /// outage or a timeout, whose duration says nothing about the round trip).
    mutating func hiveAnswered(_ call: UInt64, at now: Instant, measured: Bool) {
        guard let sentAt = hiveCalls.removeValue(forKey: call), measured else { return }
        let sample = (now - sentAt).ms
        hiveMs = hiveMs.map { $0 + Self.smoothing * (sample - $0) } ?? sample
    }

    /// A `ping` with this nonce went to a node of `other` now.
    mutating func sent(_ nonce: UInt64, to other: RegionID, at now: Instant) { probes[nonce] = (other, now) }

    /// The `pong` for a probe arrived now, with the answering node's own measurements.
    mutating func answered(_ nonce: UInt64, reports: [RegionRtt], hiveMs reportedHive: Double?, at now: Instant) {
        guard let probe = probes.removeValue(forKey: nonce) else { return }
        if let h = reportedHive, h.isFinite, h >= 0 { reportedHiveMs[probe.region] = h }
        let sample = (now - probe.sentAt).ms
        measuredMs[probe.region] = measuredMs[probe.region].map { $0 + Self.smoothing * (sample - $0) } ?? sample
        // Only values a round trip can have: a bad report must not steer the policy.
        let valid = reports.filter { $0.region != probe.region && $0.ms.isFinite && $0.ms >= 0 }
        reportedMs[probe.region] = Dictionary(valid.map { ($0.region, $0.ms) }, uniquingKeysWith: { _, last in last })
    }

    /// This node's measurements, for its `pong`, in region order.
    var report: [RegionRtt] { measuredMs.sorted(by: { $0.key < $1.key }).map { RegionRtt($0.key, ms: $0.value) } }

    /// Round trips as this node knows them, with the topology's table where it knows nothing.
    func known(table: @escaping @Sendable (RegionID, RegionID) -> Double, hiveRegion: RegionID? = nil) -> KnownRtts {
        var hive = reportedHiveMs
        hive[region] = hiveMs
        return KnownRtts(region: region, measured: measuredMs, reported: reportedMs, table: table, hive: hive, hiveRegion: hiveRegion)
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
    /// Each region's Hive round trip as measured there (this node's own, and what the others
    /// reported), and where Hive is when the cluster map says so.
    var hive: [RegionID: Double] = [:]
    var hiveRegion: RegionID?

    /// The round trip between a node of `region` and Hive: measured there; else the round trip
    /// to Hive's region (the intra-region one in Hive's own region); nil when neither is known.
    func hiveRttMs(_ region: RegionID) -> Double? {
        if let m = hive[region] { return m }
        guard let hiveRegion else { return nil }
        return rttMs(region, hiveRegion)
    }

    func rttMs(_ a: RegionID, _ b: RegionID) -> Double {
        if a == b { return table(a, b) }
        if a == region, let m = measured[b] { return m }
        if b == region, let m = measured[a] { return m }
        let reports = [reported[a]?[b], reported[b]?[a]].compactMap { $0 }
        return reports.isEmpty ? table(a, b) : reports.reduce(0, +) / Double(reports.count)
    }
}
