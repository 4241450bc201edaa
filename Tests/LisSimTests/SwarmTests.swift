@_spi(Simulation) import LisCore
import Testing

@testable import LisSim

/// The swarm, small enough for every test run (scripts/test.sh runs 200 seeds in release).
@Suite struct SwarmTests {
    /// Without faults every check holds except the convergence of copies: today's core does
    /// not repair a copy that missed a write (an adopted write is never replicated).
    @Test(arguments: 1...12 as ClosedRange<UInt64>)
    func seedsPassEveryCheckWithoutFaults(seed: UInt64) {
        let result = Swarm.run(seed: seed, faults: false)
        #expect(result.violations.isEmpty, "\(result.violations.prefix(3))")
        #expect(result.unfinishedOps == 0, "\(result.unanswered.prefix(3))")
        #expect(result.opsChecked > 0)
        #expect(result.livenessFailures.isEmpty, "\(result.livenessFailures.prefix(3))")
        #expect(result.faults.isEmpty)
    }

    /// Seeds that once found bugs in the core; each must stay clean.
    /// 19: a policy steal raced a steal in progress and the first stealer waited forever.
    /// 200: an install kept a never-acknowledged write in the installing node's copy.
    /// 241: a write adopted by a steal and retried by its origin took effect twice.
    @Test(arguments: [19, 200, 241] as [UInt64])
    func regressionSeeds(seed: UInt64) {
        let result = Swarm.run(seed: seed, faults: false)
        #expect(result.violations.isEmpty, "\(result.violations.prefix(3))")
        #expect(result.unfinishedOps == 0, "\(result.unanswered.prefix(3))")
    }

    /// Seeds that found bugs with faults on; each must pass every check, liveness included.
    /// 164 (no faults needed): an async copy applied a replicate on an old holder's write.
    /// 5, 10: a restarted holder redirected to a stale home; a restarted stealer spun on Hive.
    /// 27, 3173: a flush after a holder's restart reported writes the crash had lost as durable.
    /// 65, 166: request ids restarted at 1 after a crash; a holder took new writes for old ones.
    /// 242: a holder that restarted forgot the ids of the writes in its copy and applied a
    /// retried write a second time (found once zones made every history decidable).
    /// 5490, 9401: a repair took an acceptor back to the previous epoch's last committed
    /// position, dropping the holder's pending writes it had accepted.
    /// 676, 990: a holder answered a read with a write still pending on Q2; a steal dropped
    /// that write and its retry applied it again, after a newer write had been read.
    @Test(arguments: [164, 5, 10, 27, 65, 166, 242, 3173, 5490, 9401, 676, 990] as [UInt64])
    func faultRegressionSeeds(seed: UInt64) {
        let result = Swarm.run(seed: seed)
        #expect(result.violations.isEmpty, "\(result.violations.prefix(3))")
        #expect(result.livenessFailures.isEmpty, "\(result.livenessFailures.prefix(3))")
    }

    /// The same seeds under Lis's own policy: hand-overs and co-access group moves, under the
    /// seed's faults (scripts/test.sh runs 200 such seeds in release).
    @Test(arguments: 1...6 as ClosedRange<UInt64>)
    func seedsPassUnderAdaptive(seed: UInt64) {
        let result = Swarm.run(seed: seed, policy: .adaptive)
        #expect(result.violations.isEmpty, "\(result.violations.prefix(3))")
        #expect(result.livenessFailures.isEmpty, "\(result.livenessFailures.prefix(3))")
    }

    @Test func aSeedReplaysExactly() {
        var a: [String] = []
        var b: [String] = []
        let result = Swarm.run(seed: 7, traceSink: { a.append($0) })
        _ = Swarm.run(seed: 7, traceSink: { b.append($0) })
        #expect(a.count > 100)
        #expect(a == b)
        #expect(!result.faults.isEmpty && !result.plan.isEmpty, "the swarm injects faults by default")
    }

    @Test func seedsDrawDifferentClusters() {
        let shapes = Set((1...20 as ClosedRange<UInt64>).map { seed in
            let s = Swarm.scenario(seed: seed)
            return "\(s.regions.count)x\(s.nodesPerRegion)"
        })
        #expect(shapes.count >= 5)
    }

    /// The liveness phase writes and then reads every block the workload touched, after heal.
    @Test func theLivenessPhaseProbesEveryTouchedBlock() {
        let scenario = Swarm.scenario(seed: 3)
        let blockSize = scenario.volumes[0].blockSizeBytes
        let workload = scenario.trace.filter { $0.tMs < Swarm.safetyEndMs }
        let probes = scenario.trace.filter { $0.tMs > Swarm.safetyEndMs }
        let touched = Swarm.touchedBlocks(workload, blockSize: blockSize)
        #expect(probes.count == 2 * touched.count)
        #expect(Swarm.touchedBlocks(probes.filter { $0.op == .write }, blockSize: blockSize) == touched)
        #expect(Swarm.touchedBlocks(probes.filter { $0.op == .read }, blockSize: blockSize) == touched)
        #expect(probes.allSatisfy { $0.tMs >= Swarm.safetyEndMs + 1000 && $0.tMs < Swarm.safetyEndMs + Swarm.livenessBoundMs })
    }

    /// Teeth: each mutant is caught within the first seeds (all of them within 200 in CI).
    /// Without faults, so that what catches it is the mutant and not a fault — except the
    /// flush mutant, which only a power loss can show (a flush promises survival of crashes).
    @Test(arguments: CoreMutant.allCases)
    func mutantsAreCaught(mutant: CoreMutant) {
        let faults = mutant == .flushCountsAnySync
        let caught = (1...40 as ClosedRange<UInt64>).contains { seed in
            !Swarm.run(seed: seed, mutant: mutant, faults: faults).violations.isEmpty
        }
        #expect(caught, "\(mutant.rawValue) survived 40 seeds")
    }
}
