import Foundation
import LisCheck
@_spi(Simulation) import LisCore

/// Swarm testing (as in FoundationDB's and TigerBeetle's simulators): every seed draws its own
/// cluster, workload and faults, runs them, and the checkers judge it. The swarm draws
/// topologies (2–5 regions, 1–3 nodes per region, Hive anywhere) and contended workloads (2–5
/// clients, 8 simulated seconds) with an eager policy, so steals are frequent and race with
/// writes.
///
/// A run has two phases. The safety phase is the workload under the seed's `FaultPlan`; at its
/// end (`safetyEndMs`) everything heals. The liveness phase then writes and reads every block
/// the workload touched, and `livenessBoundMs` after heal the cluster must have answered every
/// operation, serve every block and have converged its copies.
public enum Swarm {
    /// What one seed found.
    public struct SeedResult: Sendable {
        public var seed: UInt64
        public var violations: [String]
        /// Operations still unanswered when the run ended (at the liveness bound).
        public var unfinishedOps: Int
        public var unanswered: [String]
        /// What the liveness phase found wrong at the bound, one line each.
        public var livenessFailures: [String]
        /// How many times each liveness check failed.
        public var livenessFailuresByCheck: [LivenessCheck: Int]
        public var opsChecked: Int
        public var steals: Int
        public var linearizability: String
        /// Faults injected, per kind.
        public var faults: [FaultKind: Int]
        public var taintedBlocks: Int
        /// The seed's fault plan, one line per fault (empty without faults).
        public var plan: [String]
        /// The history the linearizability check judged.
        public var history: [HistoryEvent]
    }

    /// When the workload and the faults end and everything heals.
    public static let safetyEndMs = 8_000.0
    /// How long after heal the cluster has to answer, serve every block and converge.
    public static let livenessBoundMs = 30_000.0
    /// The liveness phase's probes start this long after heal.
    static let probeStartMs = 1_000.0
    /// Each probe's read follows its write by this much.
    static let probeReadAfterMs = 4_000.0
    /// The linearizability search's budget per block. Faults stretch operations over seconds
    /// (a partition holds dozens of them open at once), and on some such blocks the default
    /// budget runs for tens of seconds; past this one the verdict is "unknown", never
    /// "linearizable".
    public static let checkLimits = CheckLimits(maxSteps: 10_000_000)

    /// The scenario of one seed: the safety phase's workload, then the liveness phase's probes.
    public static func scenario(seed: UInt64) -> Scenario {
        var random = SeededRandom(seed: seed ^ 0x5EED_5EED_5EED_5EED)
        func pick(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
        let topology = DefaultTopology.topology
        var pool = topology.regions
        var regions: [RegionID] = []
        for _ in 0..<(2 + pick(4)) { regions.append(pool.remove(at: pick(pool.count))) }
        let nodesPerRegion = 1 + pick(3)
        let blockSize: UInt64 = 64 << 10
        let volumes = (0..<(1 + pick(2))).map { i in
            VolumeSpec(
                name: VolumeName("v\(i)"), sizeBytes: 16 * blockSize, blockSizeBytes: blockSize,
                home: regions[pick(regions.count)], survive: pick(4) == 0 ? .region : .node)
        }
        // Eager: one write at twice the local latency is enough, and the cooldown is short, so
        // blocks written from several regions move back and forth all the time.
        var migration = MigrationConfig()
        migration.explicitTiers = [MigrationTier(minFactor: 2, slowWrites: 1)]
        migration.migrationCooldownMs = Double(pick(1000))
        var trace: [TraceOp] = []
        let hotBlocks = 2 + pick(4)
        let durationMs = safetyEndMs
        for c in 0..<(2 + pick(4)) {
            let region = regions[pick(regions.count)]
            let meanGapMs = 40.0 + Double(pick(160))
            var t = random.unit() * meanGapMs
            while t < durationMs {
                let volume = volumes[pick(volumes.count)]
                let block = UInt64(pick(hotBlocks))
                let roll = pick(10)
                let op: OpKind = roll < 5 ? .write : roll < 9 ? .read : .flush
                trace.append(TraceOp(
                    tMs: (t * 1000).rounded() / 1000, region: region, client: "c\(c)", op: op, volume: volume.name,
                    offset: op == .flush ? 0 : block * blockSize, length: op == .flush ? 0 : 4096))
                t += -meanGapMs * log1p(-random.unit())
            }
        }
        trace.sort { $0.tMs < $1.tMs }
        trace += probes(seed: seed, regions: regions, workload: trace, blockSize: blockSize)
        return Scenario(
            name: "swarm-\(seed)", topology: topology, topologyTOML: DefaultTopology.toml, regions: regions,
            nodesPerRegion: nodesPerRegion, hiveRegion: regions[pick(regions.count)], volumes: volumes,
            migration: migration, policy: PolicyConfig(), trace: trace)
    }

    /// The liveness phase's operations: for every block the workload touched, a write and then
    /// a read from a client in a random region. Drawn from a stream of their own, so they never
    /// shift the workload's draws.
    static func probes(seed: UInt64, regions: [RegionID], workload: [TraceOp], blockSize: UInt64) -> [TraceOp] {
        var random = SeededRandom(seed: seed ^ 0x11FE_11FE_11FE_11FE)
        let blocks = touchedBlocks(workload, blockSize: blockSize)
        var probes: [TraceOp] = []
        for (i, key) in blocks.enumerated() {
            let region = regions[Int(random.next() % UInt64(regions.count))]
            let writeMs = safetyEndMs + probeStartMs + Double(i) * 10
            for (op, tMs) in [(OpKind.write, writeMs), (.read, writeMs + probeReadAfterMs)] {
                probes.append(TraceOp(
                    tMs: tMs, region: region, client: "probe\(i)", op: op, volume: key.volume,
                    offset: key.block.index * blockSize, length: 4096))
            }
        }
        return probes.sorted { $0.tMs < $1.tMs }
    }

    /// The blocks the reads and writes of a trace touch, sorted.
    static func touchedBlocks(_ trace: [TraceOp], blockSize: UInt64) -> [BlockKey] {
        Set(trace.filter { $0.op != .flush }.map { BlockKey($0.volume, BlockID($0.offset / blockSize)) }).sorted()
    }

    /// Runs one seed with every checker on; `faults: false` runs it on a perfect network with
    /// perfect disks and clocks (the liveness phase still runs). `policy` replaces the swarm's
    /// eager `tiers` policy (the workload and the faults stay the seed's).
    public static func run(
        seed: UInt64, mutant: CoreMutant? = nil, faults: Bool = true, policy: PolicyName? = nil,
        traceSink: ((String) -> Void)? = nil
    ) -> SeedResult {
        var scenario = scenario(seed: seed)
        if let policy { scenario.policy.name = policy }
        let plan = faults ? FaultPlan.draw(seed: seed ^ 0xFA17_FA17_FA17_FA17, scenario: scenario, safetyEndMs: safetyEndMs) : nil
        let simulation = Simulation(scenario: scenario, seed: seed, mutant: mutant, faults: plan)
        simulation.stopAtMs = safetyEndMs + livenessBoundMs
        simulation.recordsHistory = true
        simulation.traceSink = traceSink
        let report = simulation.run()
        var violations = report.violations
        let history = simulation.checkableHistory()
        let verdict = HistoryCheck.check(history, limits: checkLimits)
        if case .violation(let message) = verdict { violations.append("not linearizable: \(message)") }
        let blockSize = scenario.volumes[0].blockSizeBytes
        let probeCount = scenario.trace.filter { $0.tMs > safetyEndMs }.count
        let liveness = simulation.livenessFailures(
            blocks: touchedBlocks(scenario.trace, blockSize: blockSize),
            mustSucceed: (scenario.trace.count - probeCount)..<scenario.trace.count)
        return SeedResult(
            seed: seed, violations: violations, unfinishedOps: report.unanswered.count, unanswered: report.unanswered,
            livenessFailures: liveness.map(\.description),
            livenessFailuresByCheck: liveness.reduce(into: [:]) { $0[$1.check, default: 0] += 1 },
            opsChecked: report.checkedOps + history.count / 2, steals: report.moves.count, linearizability: verdict.description,
            faults: report.faults, taintedBlocks: report.taintedBlocks, plan: plan?.summary ?? [], history: history)
    }
}
