/// The round-trip times between regions: what the simulator delays messages by, what WAN
/// emulation adds in the transport, and what the policy assumes before heartbeats measure.
///
/// Read from the format of `topology/regions.toml`: a top-level `intra_region_rtt_ms` and one
/// `[[link]]` table (`a`, `b`, `rtt_ms`) per region pair. Links are symmetric.
public struct Topology: Sendable, Equatable {
    /// The round trip between two nodes of one region, in milliseconds.
    public let intraRegionRTTms: Double
    /// Every region named in a link, sorted.
    public let regions: [RegionID]
    /// RTT in milliseconds per region pair. Never iterated for output: `links` sorts.
    private let rttMsByPair: [Pair: Double]

    /// Builds a topology from code. Input from a file goes through `parse(toml:)`, which
    /// reports these same conditions as errors; here they are the caller's defects.
    public init(intraRegionRTTms: Double, links: [(RegionID, RegionID, Double)]) {
        precondition(intraRegionRTTms > 0, "Topology: intra-region RTT must be > 0, got \(intraRegionRTTms)")
        var byPair: [Pair: Double] = [:]
        for (a, b, rttMs) in links {
            precondition(a != b, "Topology: a link must join two regions, got \(a)–\(b)")
            precondition(rttMs > 0 && rttMs.isFinite, "Topology: RTT \(a)–\(b) must be > 0, got \(rttMs)")
            let previous = byPair.updateValue(rttMs, forKey: Pair(a, b))
            precondition(previous == nil, "Topology: two links between \(a) and \(b)")
        }
        self.intraRegionRTTms = intraRegionRTTms
        self.rttMsByPair = byPair
        self.regions = Set(byPair.keys.flatMap { [$0.low, $0.high] }).sorted()
    }

    /// The round trip between a node in `a` and one in `b`, in milliseconds; nil when the two
    /// regions differ and no link joins them.
    public func rttMs(_ a: RegionID, _ b: RegionID) -> Double? {
        a == b ? intraRegionRTTms : rttMsByPair[Pair(a, b)]
    }

    /// Every link once, as `(a, b, rttMs)` with `a < b`, sorted by `a` then `b`.
    public var links: [(a: RegionID, b: RegionID, rttMs: Double)] {
        rttMsByPair.sorted { $0.key < $1.key }.map { (a: $0.key.low, b: $0.key.high, rttMs: $0.value) }
    }

    /// Throws unless every pair of distinct regions in `regions` has a link, naming the first
    /// missing pair in sorted order. A cluster or scenario calls this with the regions it uses,
    /// so a gap in the matrix is reported up front instead of as a nil RTT mid-run.
    public func validate(covering regions: [RegionID]) throws(ConfigError) {
        let sorted = Set(regions).sorted()
        for (i, a) in sorted.enumerated() {
            for b in sorted[(i + 1)...] where rttMsByPair[Pair(a, b)] == nil {
                throw ConfigError(
                    key: "link",
                    message: "has no entry between \(a) and \(b); add a [[link]] with a = \"\(a)\", b = \"\(b)\" "
                        + "and its rtt_ms")
            }
        }
    }

    /// An unordered region pair, stored with its regions in sorted order so that `(a, b)` and
    /// `(b, a)` are one key.
    private struct Pair: Hashable, Comparable, Sendable {
        let low: RegionID
        let high: RegionID

        init(_ a: RegionID, _ b: RegionID) {
            (low, high) = a < b ? (a, b) : (b, a)
        }

        static func < (x: Pair, y: Pair) -> Bool { (x.low, x.high) < (y.low, y.high) }
    }
}

extension Topology {
    /// Parses a topology file. Errors name the link by its 0-based index among the `[[link]]`
    /// tables, such as `link[3].rtt_ms must be a number of milliseconds > 0, got -1`.
    public static func parse(toml: String) throws(ConfigError) -> Topology {
        let root = TOMLReader(try TOMLReader.document(toml), path: "")
        try root.rejectUnknownKeys(allowed: ["intra_region_rtt_ms", "link"])
        let rttForm = "a number of milliseconds > 0"
        guard let intraRegionRTTms = try root.number("intra_region_rtt_ms", rttForm, { $0 > 0 }) else {
            throw root.missing("intra_region_rtt_ms", rttForm)
        }
        // No [[link]] at all is a one-region topology, which is valid.
        let linkReaders = try root.arrayOfTables("link") ?? []
        var links: [(RegionID, RegionID, Double)] = []
        var indexByPair: [Pair: Int] = [:]
        for (index, link) in linkReaders.enumerated() {
            try link.rejectUnknownKeys(allowed: ["a", "b", "rtt_ms"])
            guard let a = try link.name("a") else { throw link.missing("a", TOMLReader.nameForm) }
            guard let b = try link.name("b") else { throw link.missing("b", TOMLReader.nameForm) }
            guard let rttMs = try link.number("rtt_ms", rttForm, { $0 > 0 }) else {
                throw link.missing("rtt_ms", rttForm)
            }
            if a == b {
                throw ConfigError(key: link.key("b"), message: "must differ from a, got \"\(b)\" for both")
            }
            let pair = Pair(RegionID(a), RegionID(b))
            if let first = indexByPair[pair] {
                throw ConfigError(
                    key: link.path, message: "joins \(a) and \(b) again; link[\(first)] already does")
            }
            indexByPair[pair] = index
            links.append((RegionID(a), RegionID(b), rttMs))
        }
        return Topology(intraRegionRTTms: intraRegionRTTms, links: links)
    }
}
