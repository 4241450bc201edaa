import Foundation
import Synchronization

/// A node's metrics in Prometheus's text exposition format (`GET /metrics`, format 0.0.4).
///
/// Counters, gauges and histograms, each a family of series told apart by labels. No label
/// names a block: a series per block would grow with the volumes (Prometheus's own advice on
/// cardinality). Thread-safe: the NBD loop, the peer transport and the Hive tasks all record.
public final class Metrics: Sendable {
    /// Latency buckets, in seconds: 25 µs to 10 s in 1–2.5–5 steps. A local write on a fast
    /// disk takes tens of microseconds, a steal across oceans seconds; a default set that
    /// starts at 5 ms (swift-prometheus's timers) would put every local operation in one bucket.
    public static let latencyBuckets: [Double] = [
        0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
        2.5, 5, 10,
    ]

    public enum Kind: String, Sendable { case counter, gauge, histogram }

    /// A family's name, type and help text, declared once.
    public struct Family: Sendable, Hashable {
        public let name: String
        public let kind: Kind
        public let help: String
        public init(_ name: String, _ kind: Kind, _ help: String) {
            self.name = name
            self.kind = kind
            self.help = help
        }
    }

    struct Histogram: Sendable {
        /// Per bucket (not cumulative), then the count above the last bound.
        var counts: [UInt64]
        var sum = 0.0
        var count: UInt64 = 0

        init(bucketCount: Int) { counts = [UInt64](repeating: 0, count: bucketCount) }

        mutating func record(_ bucket: Int, _ seconds: Double) {
            guard counts.indices.contains(bucket) else { return }  // a series of another kind
            counts[bucket] += 1
            sum += seconds
            count += 1
        }
    }

    /// Every series has a slot, made the first time its family and labels are named; recording
    /// into a `Series` touches only its slot, with no lookup by name and labels per call.
    private struct State: Sendable {
        var families: [String: Family] = [:]
        /// A family's series: their rendered labels and slots.
        var slots: [String: [String: Int]] = [:]
        var values: [Double] = []
        var histograms: [Histogram] = []
        /// Whether anything was recorded in the slot: a series made but never used is not listed.
        var used: [Bool] = []

        /// The slot of a series, made if new (values and histograms share the numbering).
        mutating func slot(_ family: Family, _ labels: String) -> Int {
            families[family.name] = family
            if let slot = slots[family.name]?[labels] { return slot }
            let slot = used.count
            used.append(false)
            values.append(0)
            histograms.append(Histogram(bucketCount: family.kind == .histogram ? Metrics.latencyBuckets.count + 1 : 0))
            slots[family.name, default: [:]][labels] = slot
            return slot
        }
    }

    private let state = Mutex(State())
    /// Labels every series carries (the node and its region), rendered.
    private let constantLabels: [(String, String)]

    public init(labels: [(String, String)] = []) {
        constantLabels = labels
    }

    /// One series of a family, its labels rendered once: a hot path records into a series it
    /// made at start rather than rendering labels per call.
    /// A series is its slot: recording into it copies no strings.
    public struct Series: Sendable, Hashable {
        let slot: Int
    }

    public func series(_ family: Family, _ labels: [(String, String)] = []) -> Series {
        let labels = render(labels)
        return Series(slot: state.withLock { $0.slot(family, labels) })
    }

    /// Declares a family, so that it is listed (with no series) before anything is recorded.
    public func declare(_ family: Family) {
        state.withLock { $0.families[family.name] = family }
    }

    /// Adds `by` to a counter.
    public func increment(_ family: Family, _ labels: [(String, String)] = [], by: Double = 1) {
        increment(series(family, labels), by: by)
    }

    public func increment(_ series: Series, by: Double = 1) {
        state.withLock {
            $0.values[series.slot] += by
            $0.used[series.slot] = true
        }
    }

    /// Sets a gauge, or a counter whose total something else keeps (copied at a scrape).
    public func set(_ family: Family, _ labels: [(String, String)] = [], to value: Double) {
        let series = series(family, labels)
        state.withLock {
            $0.values[series.slot] = value
            $0.used[series.slot] = true
        }
    }

    /// Records one observation, in seconds, in a latency histogram.
    public func observe(_ family: Family, _ labels: [(String, String)] = [], seconds: Double) {
        observe(series(family, labels), seconds: seconds)
    }

    public func observe(_ series: Series, seconds: Double) {
        let bucket = Self.latencyBuckets.firstIndex { seconds <= $0 } ?? Self.latencyBuckets.count
        state.withLock {
            $0.histograms[series.slot].record(bucket, seconds)
            $0.used[series.slot] = true
        }
    }

    /// The exposition: families sorted by name, each with its HELP and TYPE lines, then its
    /// series sorted by labels; a histogram's buckets cumulative, ending in `+Inf`.
    public func text() -> String {
        let snapshot = state.withLock { $0 }
        var out = ""
        for name in snapshot.families.keys.sorted() {
            let family = snapshot.families[name]!
            out += "# HELP \(name) \(Self.escapeHelp(family.help))\n# TYPE \(name) \(family.kind.rawValue)\n"
            let series = (snapshot.slots[name] ?? [:]).filter { snapshot.used[$0.value] }.sorted { $0.key < $1.key }
            switch family.kind {
            case .counter, .gauge:
                for (series, slot) in series {
                    out += "\(name)\(braced(series)) \(Self.format(snapshot.values[slot]))\n"
                }
            case .histogram:
                for (series, slot) in series {
                    let histogram = snapshot.histograms[slot]
                    var cumulative: UInt64 = 0
                    for (i, bound) in Self.latencyBuckets.enumerated() {
                        cumulative += histogram.counts[i]
                        out += "\(name)_bucket\(braced(series, le: Self.format(bound))) \(cumulative)\n"
                    }
                    out += "\(name)_bucket\(braced(series, le: "+Inf")) \(histogram.count)\n"
                    out += "\(name)_sum\(braced(series)) \(Self.format(histogram.sum))\n"
                    out += "\(name)_count\(braced(series)) \(histogram.count)\n"
                }
            }
        }
        return out
    }

    /// The labels of a series with the constant ones, in name order, as `a="x",b="y"`.
    private func render(_ labels: [(String, String)]) -> String {
        (constantLabels + labels).sorted { $0.0 < $1.0 }.map { "\($0.0)=\"\(Self.escapeValue($0.1))\"" }.joined(separator: ",")
    }

    private func braced(_ series: String, le: String? = nil) -> String {
        let all = [series.isEmpty ? nil : series, le.map { "le=\"\($0)\"" }].compactMap { $0 }
        return all.isEmpty ? "" : "{" + all.joined(separator: ",") + "}"
    }

    /// A sample value: integers without a fraction, others as Swift prints a Double (which
    /// Prometheus parses), infinities as `+Inf`/`-Inf`.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Label values escape backslash, double quote and line feed; help text backslash and
    /// line feed (the exposition format's rules).
    static func escapeValue(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
    static func escapeHelp(_ help: String) -> String {
        help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}
