import Foundation
import LisCore

/// The kinds of fault the simulator injects. Raw values are the keys of the swarm's JSON
/// `faults` object, which counts each injected fault.
public enum FaultKind: String, CaseIterable, Sendable, Hashable {
    /// A peer message is dropped.
    case loss
    /// A peer message arrives twice.
    case duplicate
    /// A peer message skips its link's FIFO order and arrives a little late.
    case reorder
    /// A peer message is held up for a long time, and the messages behind it on its link too.
    case delaySpike = "delay_spike"
    /// The nodes are split in two sides that cannot reach each other.
    case partition
    /// Messages from one side to the other are dropped; the other way they get through.
    case asymmetricPartition = "asymmetric_partition"
    /// One region is cut off from every other region (and from Hive when Hive is elsewhere).
    case regionCut = "region_cut"
    /// FoundationDB's swizzle-clog: nodes are clogged one at a time, then unclogged in another
    /// order; a clogged node's messages wait and are delivered when it is unclogged.
    case swizzleClog = "swizzle_clog"
    /// A node crashes and restarts later.
    case crash
    /// A crash lost writes a node had stored but not synced.
    case unsyncedLoss = "unsynced_loss"
    /// A crash tore a write: only a prefix of it (a multiple of 512 bytes) reached the disk.
    case tornWrite = "torn_write"
    /// A node's wall clock runs fast or slow.
    case clockDrift = "clock_drift"
    /// A node's wall clock jumps forward or backward.
    case clockJump = "clock_jump"
    /// Hive cannot be reached by anyone for a while.
    case hiveOutage = "hive_outage"
    /// Every node of one region crashes and restarts later.
    case regionDown = "region_down"
    /// Power loss around a flush, at its worst moments: when a client submits a flush, another
    /// node of the holder's region (a Q2 member of the block) loses power and restarts soon
    /// after, and the holder's disk stalls for a while; when the flush succeeds, the holder
    /// loses power. Its own sync may not have completed, so the flushed writes must already be
    /// on other disks that have them.
    case flushCrash = "flush_crash"
    /// A node's disk stalls: its syncs take much longer for a while (its writes still reach
    /// the page cache at once), so other nodes' syncs complete first.
    case diskStall = "disk_stall"
}

/// Which faults one run suffers and when, drawn from a seed (`draw`) or written out by a test.
///
/// Every fault lies inside the safety phase `[0, safetyEndMs]`. At `safetyEndMs` everything
/// heals: crashed nodes restart, partitions and clogs end, Hive is reachable, and messages are
/// no longer lost, duplicated, reordered or delayed; clock drift stays (clocks do drift).
public struct FaultPlan: Sendable, Equatable {
    /// A half-open interval of simulated time, in milliseconds.
    public struct Window: Sendable, Equatable, CustomStringConvertible {
        public var startMs: Double
        public var endMs: Double
        public init(startMs: Double, endMs: Double) {
            self.startMs = startMs
            self.endMs = endMs
        }
        public func contains(_ ms: Double) -> Bool { ms >= startMs && ms < endMs }
        public var description: String { "[\(roundedMs(startMs)), \(roundedMs(endMs))) ms" }
    }

    /// A fault that strikes single peer messages with a probability while its window is open.
    public struct MessageFault: Sendable, Equatable {
        public var window: Window
        public var probability: Double
        /// Extra delay drawn uniformly for a struck message (reorder, delay spike, the second
        /// copy of a duplicate); unused for loss.
        public var extraMs: ClosedRange<Double>
        /// nil: every link between nodes. Otherwise only links between two different regions
        /// of this list (a test cuts one pair of regions).
        public var betweenRegions: [RegionID]?
        public init(window: Window, probability: Double, extraMs: ClosedRange<Double> = 0...0, betweenRegions: [RegionID]? = nil) {
            self.window = window
            self.probability = probability
            self.extraMs = extraMs
            self.betweenRegions = betweenRegions
        }
    }

    /// Messages from `side` to every other node are dropped while the window is open, and the
    /// other way too unless `kind` is `.asymmetricPartition`. Hive counts as one more endpoint,
    /// on `side` when `hiveOnSide`.
    public struct Partition: Sendable, Equatable {
        public var kind: FaultKind
        public var window: Window
        public var side: [NodeID]
        public var hiveOnSide: Bool
        public init(kind: FaultKind, window: Window, side: [NodeID], hiveOnSide: Bool) {
            precondition([.partition, .asymmetricPartition, .regionCut].contains(kind), "\(kind) is not a partition")
            self.kind = kind
            self.window = window
            self.side = side
            self.hiveOnSide = hiveOnSide
        }
    }

    /// A node's messages (in and out) wait while the window is open.
    public struct Clog: Sendable, Equatable {
        public var node: NodeID
        public var window: Window
        public init(node: NodeID, window: Window) {
            self.node = node
            self.window = window
        }
    }

    /// Nodes that crash at `window.startMs` and restart at `window.endMs`.
    public struct Crash: Sendable, Equatable {
        public var nodes: [NodeID]
        public var window: Window
        /// Set for a whole region going down (counted as `region_down` once, plus a crash per node).
        public var region: RegionID?
        public init(nodes: [NodeID], window: Window, region: RegionID? = nil) {
            self.nodes = nodes
            self.window = window
            self.region = region
        }
    }

    public struct ClockJump: Sendable, Equatable {
        public var node: NodeID
        public var atMs: Double
        /// Added to the node's wall clock; negative jumps go back.
        public var deltaMs: Double
        public init(node: NodeID, atMs: Double, deltaMs: Double) {
            self.node = node
            self.atMs = atMs
            self.deltaMs = deltaMs
        }
    }

    /// When every fault ends (the start of the liveness phase).
    public var safetyEndMs: Double
    public var loss: MessageFault?
    public var duplicate: MessageFault?
    public var reorder: MessageFault?
    public var delaySpike: MessageFault?
    public var partitions: [Partition] = []
    public var clogs: [Clog] = []
    public var crashes: [Crash] = []
    /// Whether a crash loses what a node stored but did not sync (power loss), or keeps it (a
    /// process crash: the page cache survives).
    public var crashLosesUnsynced = false
    /// Whether a crash that loses unsynced writes may also tear the first one it loses.
    public var crashTearsWrites = false
    /// Fractional rate error of each drifting node's wall clock (0.001 = 1000 ppm fast).
    public var clockDrift: [NodeID: Double] = [:]
    public var clockJumps: [ClockJump] = []
    public var hiveOutages: [Window] = []
    /// How many flushes meet power losses (`flushCrash`).
    public var flushCrashes = 0
    /// A node whose syncs take `extraMs` longer while the window is open.
    public struct DiskStall: Sendable, Equatable {
        public var node: NodeID
        public var window: Window
        public var extraMs: Double
        public init(node: NodeID, window: Window, extraMs: Double) {
            self.node = node
            self.window = window
            self.extraMs = extraMs
        }
    }
    public var diskStalls: [DiskStall] = []

    public init(safetyEndMs: Double) { self.safetyEndMs = safetyEndMs }

    /// A plan drawn from `seed` for the scenario's cluster: each kind of fault is switched on
    /// with some probability and placed at random inside `[0, safetyEndMs]`. Every kind draws
    /// in a fixed order from its own stream, so one kind's draws never shift another's.
    public static func draw(seed: UInt64, scenario: Scenario, safetyEndMs: Double) -> FaultPlan {
        var root = SeededRandom(seed: seed)
        var plan = FaultPlan(safetyEndMs: safetyEndMs)
        let members = Simulation.members(of: scenario)
        let nodes = members.map(\.0)
        let regions = scenario.regions

        var r = root.fork()
        func pick(_ n: Int) -> Int { Int(r.next() % UInt64(n)) }
        func uniform(_ range: ClosedRange<Double>) -> Double { range.lowerBound + (range.upperBound - range.lowerBound) * r.unit() }
        func chance(_ p: Double) -> Bool { r.unit() < p }
        func window() -> Window {
            let start = uniform(0...(safetyEndMs - 300))
            return Window(startMs: roundedMs(start), endMs: roundedMs(min(start + uniform(300...3000), safetyEndMs)))
        }
        func shuffled<T>(_ items: [T]) -> [T] {
            var out = items
            for i in stride(from: out.count - 1, to: 0, by: -1) { out.swapAt(i, pick(i + 1)) }
            return out
        }

        r = root.fork()
        if chance(0.4) { plan.loss = MessageFault(window: window(), probability: uniform(0.005...0.05)) }
        r = root.fork()
        if chance(0.35) { plan.duplicate = MessageFault(window: window(), probability: uniform(0.005...0.03), extraMs: 0...50) }
        r = root.fork()
        if chance(0.35) { plan.reorder = MessageFault(window: window(), probability: uniform(0.01...0.1), extraMs: 0...50) }
        r = root.fork()
        if chance(0.35) { plan.delaySpike = MessageFault(window: window(), probability: uniform(0.005...0.02), extraMs: 100...2000) }

        r = root.fork()
        if chance(0.35) {
            let side = Array(shuffled(nodes).prefix(1 + pick(nodes.count - 1)))
            plan.partitions.append(Partition(kind: .partition, window: window(), side: side.sorted(), hiveOnSide: chance(0.5)))
        }
        r = root.fork()
        if chance(0.3) {
            let side = Array(shuffled(nodes).prefix(1 + pick(nodes.count - 1)))
            plan.partitions.append(Partition(kind: .asymmetricPartition, window: window(), side: side.sorted(), hiveOnSide: chance(0.5)))
        }
        r = root.fork()
        if chance(0.3) {
            let region = regions[pick(regions.count)]
            let side = members.filter { $0.1 == region }.map(\.0)
            plan.partitions.append(Partition(kind: .regionCut, window: window(), side: side, hiveOnSide: scenario.hiveRegion == region))
        }

        r = root.fork()
        if chance(0.3) {
            let chosen = Array(shuffled(nodes).prefix(1 + pick(nodes.count)))
            let gapMs = uniform(50...500)
            let startMs = uniform(0...(safetyEndMs * 0.6))
            var clogAt: [NodeID: Double] = [:]
            for (i, node) in chosen.enumerated() { clogAt[node] = startMs + Double(i) * gapMs }
            let unclogFromMs = startMs + Double(chosen.count) * gapMs + uniform(300...1500)
            for (i, node) in shuffled(chosen).enumerated() {
                let end = min(unclogFromMs + Double(i) * gapMs, safetyEndMs)
                guard clogAt[node]! < end else { continue }
                plan.clogs.append(Clog(node: node, window: Window(startMs: roundedMs(clogAt[node]!), endMs: roundedMs(end))))
            }
            plan.clogs.sort { $0.window.startMs < $1.window.startMs }
        }

        r = root.fork()
        if chance(0.45) {
            for _ in 0..<(1 + pick(2)) { plan.crashes.append(Crash(nodes: [nodes[pick(nodes.count)]], window: window())) }
        }
        r = root.fork()
        if chance(0.3) {
            let region = regions[pick(regions.count)]
            plan.crashes.append(Crash(nodes: members.filter { $0.1 == region }.map(\.0), window: window(), region: region))
        }
        plan.crashes.sort { $0.window.startMs < $1.window.startMs }
        r = root.fork()
        plan.crashLosesUnsynced = chance(0.5)
        plan.crashTearsWrites = plan.crashLosesUnsynced && chance(0.5)

        r = root.fork()
        if chance(0.4) {
            // Between ±200 ppm (a good quartz) and ±1 % (a broken one), log-uniform.
            let bound = 200e-6 * pow(50, r.unit())
            for node in nodes { plan.clockDrift[node] = (r.unit() * 2 - 1) * bound }
        }
        r = root.fork()
        if chance(0.35) {
            for _ in 0..<(1 + pick(3)) {
                let sign: Double = chance(0.5) ? -1 : 1
                plan.clockJumps.append(ClockJump(
                    node: nodes[pick(nodes.count)], atMs: roundedMs(uniform(0...safetyEndMs)), deltaMs: roundedMs(sign * uniform(100...5000))))
            }
            plan.clockJumps.sort { $0.atMs < $1.atMs }
        }
        r = root.fork()
        if chance(0.3) { plan.hiveOutages.append(window()) }
        r = root.fork()
        if chance(0.6) { plan.flushCrashes = 2 + pick(5) }
        r = root.fork()
        if chance(0.4) {
            for _ in 0..<(1 + pick(2)) {
                plan.diskStalls.append(DiskStall(node: nodes[pick(nodes.count)], window: window(), extraMs: roundedMs(uniform(5...300))))
            }
        }
        return plan
    }

    /// The enabled faults, one line each, for `--verbose`.
    public var summary: [String] {
        var lines: [String] = []
        func message(_ name: String, _ f: MessageFault?) {
            guard let f else { return }
            let extra = f.extraMs.upperBound > 0 ? " +\(roundedMs(f.extraMs.lowerBound))–\(roundedMs(f.extraMs.upperBound)) ms" : ""
            let scope = f.betweenRegions.map { " between \($0.map(\.name).joined(separator: ", "))" } ?? ""
            lines.append("\(name) \(roundedMs(f.probability * 100))% \(f.window)\(extra)\(scope)")
        }
        message("loss", loss)
        message("duplicate", duplicate)
        message("reorder", reorder)
        message("delay_spike", delaySpike)
        for p in partitions {
            lines.append("\(p.kind.rawValue) \(p.window): {\(p.side.map(\.name).joined(separator: " "))\(p.hiveOnSide ? " hive" : "")} | rest")
        }
        for c in clogs { lines.append("swizzle_clog \(c.node) \(c.window)") }
        for c in crashes {
            lines.append("\(c.region.map { "region_down \($0)" } ?? "crash") \(c.nodes.map(\.name).joined(separator: " ")) \(c.window)")
        }
        if !crashes.isEmpty {
            lines.append("crashes \(crashLosesUnsynced ? "lose unsynced writes" : "keep unsynced writes")\(crashTearsWrites ? " and may tear one" : "")")
        }
        for (node, drift) in clockDrift.sorted(by: { $0.key < $1.key }) { lines.append("clock_drift \(node) \(roundedMs(drift * 1e6)) ppm") }
        for j in clockJumps { lines.append("clock_jump \(j.node) at \(j.atMs) ms by \(j.deltaMs) ms") }
        for w in hiveOutages { lines.append("hive_outage \(w)") }
        if flushCrashes > 0 { lines.append("flush_crash up to \(flushCrashes) flushes") }
        for s in diskStalls { lines.append("disk_stall \(s.node) \(s.window) +\(s.extraMs) ms per sync") }
        return lines
    }
}

/// Plans and reports show times to the microsecond at most.
private func roundedMs(_ ms: Double) -> Double { (ms * 1000).rounded() / 1000 }
