import Foundation
@_spi(Simulation) import LisCore

/// Swarm testing (as in FoundationDB's and TigerBeetle's simulators): every seed draws its own
/// cluster and workload, runs it, and the checkers judge it. Today's swarm draws topologies
/// (2–5 regions, 1–3 nodes per region, Hive anywhere) and contended workloads (2–5 clients,
/// 8 simulated seconds) with an eager
/// policy, so steals are frequent and race with writes; it injects no faults yet.
public enum Swarm {
    /// What one seed found.
    public struct SeedResult: Sendable {
        public var seed: UInt64
        public var violations: [String]
        /// Operations still unanswered when the run ended (after the drain).
        public var unfinishedOps: Int
        public var unanswered: [String]
        public var opsChecked: Int
        public var steals: Int
        public var linearizability: String
    }

    /// The scenario of one seed.
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
        let durationMs = 8_000.0
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
        return Scenario(
            name: "swarm-\(seed)", topology: topology, topologyTOML: DefaultTopology.toml, regions: regions,
            nodesPerRegion: nodesPerRegion, hiveRegion: regions[pick(regions.count)], volumes: volumes,
            migration: migration, policy: PolicyConfig(), trace: trace)
    }

    /// Runs one seed with every checker on.
    public static func run(seed: UInt64, mutant: CoreMutant? = nil, traceSink: ((String) -> Void)? = nil) -> SeedResult {
        var parameters = SimParameters()
        parameters.drainMs = 30_000
        let simulation = Simulation(scenario: scenario(seed: seed), seed: seed, parameters: parameters, mutant: mutant)
        simulation.recordsHistory = true
        simulation.traceSink = traceSink
        let report = simulation.run()
        var violations = report.violations
        let verdict = HistoryCheck.check(simulation.history)
        if case .violation(let message) = verdict { violations.append("not linearizable: \(message)") }
        let unfinished = simulation.scenario.trace.count - report.ops
        return SeedResult(
            seed: seed, violations: violations, unfinishedOps: unfinished, unanswered: report.unanswered,
            opsChecked: report.checkedOps + simulation.history.count / 2, steals: report.moves.count,
            linearizability: verdict.description)
    }
}
