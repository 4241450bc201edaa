import Foundation
import LisCore

/// What clients did and what placement decided, in time columns: the raw material of the
/// dashboard's views (`DashboardViews`). A node keeps one for its own clients and decisions and
/// the views merge every member's (`ActivitySnapshot`); the simulator keeps one for the whole
/// run. Times are milliseconds on the owner's clock (wall clock on a node, virtual in the
/// simulator); a column is `columnMs` wide and numbered from time 0, so every node's columns
/// line up. Not thread-safe: its owner serialises access (the node's actor, the simulator's lock).
public struct ActivityLog: Sendable {
    /// A node's column: fine enough to see a steal's effect, coarse enough that two hours of a
    /// busy volume stay small.
    public static let nodeColumnMs: Int64 = 5_000

    public let columnMs: Int64
    /// Columns older than the newest minus this are forgotten.
    public let keepColumns: Int64
    /// Decisions kept: moves (they give each block's holder over time) apart from the rest,
    /// so that many declines never push a move out.
    public let keepMoves: Int
    public let keepOthers: Int

    struct CellKey: Hashable {
        var volume: String
        var block: UInt64
        var column: Int64
        var region: String

        /// The numbers only: keys that differ in volume or region alone are few (a node's
        /// clients are in one region), and hashing two strings per command cost more than the
        /// rest of recording it. A table hashes them by `tableHash`, not SipHash.
        func hash(into hasher: inout Hasher) {
            hasher.combine(block)
            hasher.combine(column)
        }
        func _rawHashValue(seed: Int) -> Int { tableHash(pairBits(block, UInt64(bitPattern: column)), seed: seed) }
    }
    struct LatencyKey: Hashable {
        var region: String
        var node: String
        var op: String
        var column: Int64
    }
    struct UsageKey: Hashable {
        var volume: String
        var hourMs: Int64
        var region: String
    }

    private var cells: [CellKey: ActivitySnapshot.Counts] = [:]
    /// Per operation (`Operation.index`): a node's commands of one kind go to one series per
    /// column, so each table keeps the one used last apart (`RecentFirst`).
    private var latency = [RecentFirst<LatencyKey, LatencyHistogram>](repeating: RecentFirst(), count: Operation.allCases.count)
    private var usage = RecentFirst<UsageKey, ActivitySnapshot.Counts>()
    private var moves: [Decision] = []
    private var others: [Decision] = []
    private var newestColumn: Int64 = 0

    public init(columnMs: Int64 = ActivityLog.nodeColumnMs, keepColumns: Int64 = 1_440, keepMoves: Int = 20_000, keepOthers: Int = 5_000) {
        precondition(columnMs > 0 && keepColumns > 0)
        self.columnMs = columnMs
        self.keepColumns = keepColumns
        self.keepMoves = keepMoves
        self.keepOthers = keepOthers
    }

    public enum Operation: String, Sendable, CaseIterable {
        case read, write, flush

        var index: Int {
            switch self {
            case .read: 0
            case .write: 1
            case .flush: 2
            }
        }
    }

    /// A client operation the node in `region` answered: `blocks` of `volume` (none for a
    /// flush), `bytes` long, in `latencyMs`, finished at `atMs`.
    public mutating func record(
        _ op: Operation, volume: String?, blocks: ClosedRange<UInt64>?, bytes: UInt64, latencyMs: Double, region: String,
        node: String, atMs: Int64
    ) {
        let column = atMs / columnMs
        advance(to: column)
        latency[op.index].update(LatencyKey(region: region, node: node, op: op.rawValue, column: column), LatencyHistogram()) {
            $0.add(latencyMs)
        }
        guard let volume, let blocks, op != .flush else { return }
        // A stride, not the range itself: iterating a ClosedRange copies its generic index per step.
        for block in stride(from: blocks.lowerBound, through: blocks.upperBound, by: 1) {
            let key = CellKey(volume: volume, block: block, column: column, region: region)
            if op == .write { cells[key, default: .init()].writes += 1 } else { cells[key, default: .init()].reads += 1 }
        }
        let hour = atMs - atMs % 3_600_000
        usage.update(UsageKey(volume: volume, hourMs: hour, region: region), .init()) { Self.count(op, bytes: bytes, in: &$0) }
    }

    private static func count(_ op: Operation, bytes: UInt64, in counts: inout ActivitySnapshot.Counts) {
        if op == .write { counts.writes += 1 } else { counts.reads += 1 }
        counts.bytes += bytes
    }

    /// A decision or a move (`Decision.kind`).
    public mutating func record(_ decision: Decision) {
        advance(to: decision.at_ms / columnMs)
        if decision.kind == .moved {
            moves.append(decision)
            if moves.count > keepMoves { moves.removeFirst(moves.count - keepMoves / 2) }
        } else {
            others.append(decision)
            if others.count > keepOthers { others.removeFirst(others.count - keepOthers / 2) }
        }
    }

    /// Forgets columns that fell out of the kept window (at most once per new column).
    private mutating func advance(to column: Int64) {
        guard column > newestColumn else { return }
        newestColumn = column
        let oldest = column - keepColumns
        guard oldest > 0, column % 16 == 0 else { return }
        cells = cells.filter { $0.key.column >= oldest }
        for i in latency.indices { latency[i].removeAll { $0.column < oldest } }
        let oldestHour = oldest * columnMs - oldest * columnMs % 3_600_000
        usage.removeAll { $0.hourMs < oldestHour }
    }

    /// Every move kept, oldest first.
    public var moveDecisions: [Decision] { moves }

    /// What happened in `[sinceMs, untilMs)`, and every move kept (a block's holder in the
    /// window depends on moves before and after it).
    public func snapshot(sinceMs: Int64, untilMs: Int64) -> ActivitySnapshot {
        let first = sinceMs / columnMs
        let last = (untilMs + columnMs - 1) / columnMs
        let window = first..<max(first + 1, last)
        var snapshot = ActivitySnapshot(column_ms: columnMs)
        snapshot.cells = cells.compactMap { key, counts in
            window.contains(key.column)
                ? ActivitySnapshot.Cell(volume: key.volume, block: key.block, column: key.column, region: key.region, counts: counts)
                : nil
        }
        snapshot.latency = latency.flatMap(\.entries).compactMap { key, histogram in
            window.contains(key.column)
                ? ActivitySnapshot.Latency(region: key.region, node: key.node, op: key.op, column: key.column, histogram: histogram)
                : nil
        }
        let firstHour = sinceMs - sinceMs % 3_600_000
        snapshot.usage = usage.entries.compactMap { key, counts in
            key.hourMs >= firstHour && key.hourMs < untilMs
                ? ActivitySnapshot.Usage(volume: key.volume, hour_ms: key.hourMs, region: key.region, counts: counts) : nil
        }
        snapshot.decisions = moves + others.filter { $0.at_ms >= sinceMs && $0.at_ms < untilMs }
        return snapshot
    }
}

/// A table whose entry changed last is kept out of the dictionary: when the next change is to
/// the same key (a node's next command of a kind, in the same column), it costs a comparison of
/// keys instead of hashing them.
struct RecentFirst<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private var table: [Key: Value] = [:]
    private var recent: (key: Key, value: Value)?

    /// Changes the entry for `key`, made from `initial` if there is none.
    mutating func update(_ key: Key, _ initial: @autoclosure () -> Value, _ change: (inout Value) -> Void) {
        if recent?.key != key {
            if let (k, v) = recent { table[k] = v }
            recent = (key, table.removeValue(forKey: key) ?? initial())
        }
        change(&recent!.value)
    }

    mutating func removeAll(where drop: (Key) -> Bool) {
        if let (k, v) = recent {
            table[k] = v
            recent = nil
        }
        table = table.filter { !drop($0.key) }
    }

    /// Every entry, in no order.
    var entries: [(key: Key, value: Value)] {
        var all = table.map { ($0.key, $0.value) }
        if let recent { all.append(recent) }
        return all
    }
}

/// Latencies in logarithmic buckets: bucket i counts latencies up to `bound(i)` ms, 25 % apart
/// from 10 µs, so a percentile is known within 25 % and histograms add.
public struct LatencyHistogram: Sendable, Equatable, Codable {
    static let buckets = 80
    static let smallestMs = 0.01
    static let factor = 1.25

    /// Counts by bucket (all `buckets` of them, so that adding one is an index, not a lookup).
    private var counts = [Int](repeating: 0, count: LatencyHistogram.buckets)

    public init() {}

    static func bound(_ i: Int) -> Double { smallestMs * Foundation.pow(factor, Double(i)) }

    public mutating func add(_ ms: Double) {
        let i = ms <= Self.smallestMs ? 0 : Int((Foundation.log(ms / Self.smallestMs) / Foundation.log(Self.factor)).rounded(.up))
        counts[min(max(i, 0), Self.buckets - 1)] += 1
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for i in counts.indices { counts[i] += other.counts[i] }
    }

    public var total: Int { counts.reduce(0, +) }

    /// The bucket bound below which a share `q` (0…1) of the latencies lie.
    public func quantile(_ q: Double) -> Double? {
        let total = self.total
        guard total > 0 else { return nil }
        let rank = max(1, Int((q * Double(total)).rounded(.up)))
        var seen = 0
        for i in counts.indices {
            seen += counts[i]
            if seen >= rank { return Self.bound(i) }
        }
        return Self.bound(counts.lastIndex { $0 > 0 }!)
    }

    public init(from decoder: any Decoder) throws {
        let pairs = try decoder.singleValueContainer().decode([[Int]].self)
        for pair in pairs where pair.count == 2 && (0..<Self.buckets).contains(pair[0]) && pair[1] > 0 {
            counts[pair[0]] += pair[1]
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        // Only the non-zero buckets, as `[bucket, count]` pairs.
        try c.encode(counts.indices.filter { counts[$0] > 0 }.map { [$0, counts[$0]] })
    }
}

/// `GET /v1/activity`: one node's `ActivityLog` for a window, as members exchange it (the views
/// are built from the merge of every member's).
public struct ActivitySnapshot: Codable, Sendable, Equatable {
    public struct Counts: Codable, Sendable, Equatable {
        public var writes = 0
        public var reads = 0
        public var bytes: UInt64 = 0
        public init() {}
    }
    public struct Cell: Codable, Sendable, Equatable {
        public var volume: String
        public var block: UInt64
        public var column: Int64
        /// The region of the clients.
        public var region: String
        public var counts: Counts
    }
    public struct Latency: Codable, Sendable, Equatable {
        public var region: String
        public var node: String
        public var op: String
        public var column: Int64
        public var histogram: LatencyHistogram
    }
    public struct Usage: Codable, Sendable, Equatable {
        public var volume: String
        public var hour_ms: Int64
        public var region: String
        public var counts: Counts
    }
    public var column_ms: Int64
    public var cells: [Cell] = []
    public var latency: [Latency] = []
    public var usage: [Usage] = []
    public var decisions: [Decision] = []
    /// Members whose activity could not be read (the views say they are incomplete).
    public var missing: [String] = []

    public init(column_ms: Int64) { self.column_ms = column_ms }

    /// Adds another member's snapshot (same column width) to this one.
    public mutating func merge(_ other: ActivitySnapshot) {
        cells += other.cells
        latency += other.latency
        usage += other.usage
        decisions += other.decisions
        missing += other.missing
    }
}
