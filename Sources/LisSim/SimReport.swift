import Foundation
import LisCore

/// The outcome of one simulated run (what `lis sim run` prints).
public struct SimReport: Sendable {
    public struct RegionStats: Sendable {
        public var region: RegionID
        public var writes = 0
        public var reads = 0
        public var flushes = 0
        public var failed = 0
        public var localWrites = 0
        public var writeLatenciesMs: [Double] = []
        public var readLatenciesMs: [Double] = []

        public var localWriteFraction: Double { writes == 0 ? 0 : Double(localWrites) / Double(writes) }
    }

    /// One record of what the policy and the protocol decided about the explained block.
    public struct Explanation: Sendable {
        public var tMs: Double
        public var node: NodeID
        /// `declined`, `steal started`, `moved`, `steal abandoned`, `fenced`.
        public var kind: String
        public var text: String
    }

    public struct Session: Sendable {
        public var region: RegionID
        public var startMs: Double
        /// The session's first write to each block it writes.
        public var firstWrites = 0
        public var localFirstWrites = 0
        public var localFraction: Double { firstWrites == 0 ? 0 : Double(localFirstWrites) / Double(firstWrites) }
    }
    /// A region idle this long starts a new session with its next operation.
    public static let sessionGapMs = 4 * 3_600_000.0

    /// Over every region's last session: the fraction of its first writes that were local.
    public var lastSessionsFirstWritesLocal: Double? {
        var last: [RegionID: Session] = [:]
        for session in sessions { last[session.region] = session }
        let total = last.values.reduce(0) { $0 + $1.firstWrites }
        return total == 0 ? nil : Double(last.values.reduce(0) { $0 + $1.localFirstWrites }) / Double(total)
    }

    public struct Move: Sendable {
        public var tMs: Double
        public var key: BlockKey
        public var from: RegionID
        public var to: RegionID
        public var reason: String
        public var stealMs: Double
        public var transferBytes: UInt64
        /// Writes to the block from the new holder's region issued before the move completed
        /// (since the block's previous move).
        public var slowWritesBefore = 0
    }

    public var scenario: String
    public var seed: UInt64
    public var policy: String
    public var ops = 0
    public var regions: [RegionStats] = []
    /// Each region's working sessions (operations with no gap of `sessionGapMs` or more) and
    /// how many of each session's first writes to a block were served in the region: whether
    /// the blocks were there when its day began.
    public var sessions: [Session] = []
    public var moves: [Move] = []
    /// Every answered write: when it was issued and how long it took (for plots over time).
    public var writeSamples: [(tMs: Double, latencyMs: Double)] = []
    /// The decision records of the block the run explains (`Simulation.explainKey`).
    public var explanations: [Explanation] = []
    public var abandonedSteals = 0
    public var violations: [String] = []
    /// Operations never answered by the end of the run (a liveness failure when nothing stops them).
    public var unanswered: [String] = []
    public var checkedOps = 0
    /// Faults injected, per kind (empty without a fault plan).
    public var faults: [FaultKind: Int] = [:]
    /// Blocks a crash damaged (their linearizability is checked up to the crash only).
    public var taintedBlocks = 0
    public var digest = ""
    public var events = 0
    public var simSeconds = 0.0
    public var wallSeconds = 0.0

    public var writes: Int { regions.reduce(0) { $0 + $1.writes } }

    /// Nearest-rank percentile of unsorted samples; 0 for none.
    public static func percentile(_ samples: [Double], _ p: Double) -> Double {
        guard !samples.isEmpty else { return 0 }
        let sorted = samples.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    public static func mean(_ samples: [Double]) -> Double { samples.isEmpty ? 0 : samples.reduce(0, +) / Double(samples.count) }

    public var slowWritesBeforeMove: (p50: Int, max: Int) {
        let counts = moves.map { Double($0.slowWritesBefore) }
        return (Int(Self.percentile(counts, 50)), Int(counts.max() ?? 0))
    }
}

extension SimReport {
    /// The JSON document of `lis sim run --json`, keys in a fixed order.
    public func json() -> String {
        func r(_ x: Double) -> JSON { .number((x * 1000).rounded() / 1000) }
        let slow = slowWritesBeforeMove
        let doc: JSON = .object([
            ("scenario", .string(scenario)),
            ("seed", .int(Int64(seed))),
            ("policy", .string(policy)),
            ("ops", .int(Int64(ops))),
            ("writes", .int(Int64(writes))),
            ("regions", .object(regions.map { s in
                (s.region.name, .object([
                    ("writes", .int(Int64(s.writes))),
                    ("reads", .int(Int64(s.reads))),
                    ("failed", .int(Int64(s.failed))),
                    ("mean_write_ms", r(Self.mean(s.writeLatenciesMs))),
                    ("p50_write_ms", r(Self.percentile(s.writeLatenciesMs, 50))),
                    ("p99_write_ms", r(Self.percentile(s.writeLatenciesMs, 99))),
                    ("mean_read_ms", r(Self.mean(s.readLatenciesMs))),
                    ("local_write_fraction", .number((s.localWriteFraction * 10000).rounded() / 10000)),
                ]))
            })),
            ("sessions", .array(sessions.map { x in
                .object([
                    ("region", .string(x.region.name)),
                    ("start_ms", r(x.startMs)),
                    ("first_writes", .int(Int64(x.firstWrites))),
                    ("local_first_writes", .int(Int64(x.localFirstWrites))),
                ])
            })),
            ("moves", .array(moves.map { m in
                .object([
                    ("t_ms", r(m.tMs)),
                    ("volume", .string(m.key.volume.name)),
                    ("block", .int(Int64(m.key.block.index))),
                    ("from", .string(m.from.name)),
                    ("to", .string(m.to.name)),
                    ("reason", .string(m.reason)),
                    ("steal_ms", r(m.stealMs)),
                    ("transfer_bytes", .int(Int64(m.transferBytes))),
                    ("slow_writes_before", .int(Int64(m.slowWritesBefore))),
                ])
            })),
            ("explanations", .array(explanations.map { e in
                .object([("t_ms", r(e.tMs)), ("node", .string(e.node.name)), ("kind", .string(e.kind)), ("text", .string(e.text))])
            })),
            ("abandoned_steals", .int(Int64(abandonedSteals))),
            ("slow_writes_before_move", .object([("p50", .int(Int64(slow.p50))), ("max", .int(Int64(slow.max)))])),
            ("safety", .object([
                ("violations", .int(Int64(violations.count))),
                ("checked_ops", .int(Int64(checkedOps))),
                ("messages", .array(violations.prefix(20).map { .string($0) })),
            ])),
            ("digest", .string(digest)),
            ("events", .int(Int64(events))),
            ("sim_seconds", r(simSeconds)),
            ("wall_seconds", r(wallSeconds)),
        ])
        return doc.rendered
    }

    /// The decision records of the explained block, one per line.
    public func explained(_ key: BlockKey) -> String {
        var out = "\ndecisions for \(key) (\(explanations.count) records; declined candidates at most one per 10 s per holder):\n"
        if explanations.isEmpty { out += "  none: no policy considered moving it\n" }
        for e in explanations {
            out += "  t=\(String(format: "%.3f", e.tMs / 1000))s  \(e.node)  \(e.kind)  \(e.text)\n"
        }
        return out
    }

    /// A readable summary for people.
    public func summary() -> String {
        func f(_ x: Double) -> String {
            let r = (x * 1000).rounded() / 1000
            return String(r)
        }
        var out = "scenario \(scenario)  seed \(seed)  policy \(policy)\n"
        out += "\(ops) operations (\(writes) writes) over \(f(simSeconds)) simulated seconds in \(f(wallSeconds)) s\n\n"
        out += "region      writes   reads   local  mean_write_ms  p50_write_ms  p99_write_ms  mean_read_ms\n"
        for s in regions {
            out += s.region.name.padding(toLength: 10, withPad: " ", startingAt: 0)
            let local = s.writes == 0 ? "     -" : String(format: "%5.1f%%", s.localWriteFraction * 100)
            out += String(format: "  %6d  %6d  %@  %13.3f  %12.3f  %12.3f  %12.3f\n",
                s.writes, s.reads, local, Self.mean(s.writeLatenciesMs),
                Self.percentile(s.writeLatenciesMs, 50), Self.percentile(s.writeLatenciesMs, 99), Self.mean(s.readLatenciesMs))
        }
        if sessions.count > regions.count {
            out += "\nsessions (a region idle ≥ 4 h starts a new one): first writes to each block, local\n"
            for x in sessions where x.firstWrites > 0 {
                out += "  \(x.region.name.padding(toLength: 10, withPad: " ", startingAt: 0))  from \(f(x.startMs / 3_600_000)) h  \(x.localFirstWrites)/\(x.firstWrites)"
                    + String(format: "  %5.1f%%\n", x.localFraction * 100)
            }
        }
        out += "\n\(moves.count) moves"
        if !moves.isEmpty {
            let slow = slowWritesBeforeMove
            out += " (slow writes before each move: p50 \(slow.p50), max \(slow.max))"
        }
        out += ":\n"
        for m in moves.prefix(40) {
            out += "  t=\(f(m.tMs / 1000))s  \(m.key)  \(m.from) → \(m.to)  steal \(f(m.stealMs)) ms, "
                + "\(m.transferBytes) B transferred, after \(m.slowWritesBefore) slow writes\n      \(m.reason)\n"
        }
        if moves.count > 40 { out += "  … \(moves.count - 40) more (use --json)\n" }
        if abandonedSteals > 0 { out += "\(abandonedSteals) steals abandoned\n" }
        out += "\nsafety: \(violations.count) violations, \(checkedOps) acknowledged writes checked after steals\n"
        for v in violations.prefix(10) { out += "  VIOLATION \(v)\n" }
        out += "digest \(digest)\n"
        return out
    }
}
