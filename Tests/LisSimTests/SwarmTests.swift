@_spi(Simulation) import LisCore
import Testing

@testable import LisSim

/// The swarm, small enough for every test run (scripts/test.sh runs 200 seeds in release).
@Suite struct SwarmTests {
    @Test(arguments: 1...12 as ClosedRange<UInt64>)
    func seedsPassEveryCheck(seed: UInt64) {
        let result = Swarm.run(seed: seed)
        #expect(result.violations.isEmpty, "\(result.violations.prefix(3))")
        #expect(result.unfinishedOps == 0, "\(result.unanswered.prefix(3))")
        #expect(result.opsChecked > 0)
    }

    /// Seeds that once found bugs in the core; each must stay clean.
    /// 19: a policy steal raced a steal in progress and the first stealer waited forever.
    /// 200: an install kept a never-acknowledged write in the installing node's copy.
    /// 241: a write adopted by a steal and retried by its origin took effect twice.
    @Test(arguments: [19, 200, 241] as [UInt64])
    func regressionSeeds(seed: UInt64) {
        let result = Swarm.run(seed: seed)
        #expect(result.violations.isEmpty, "\(result.violations.prefix(3))")
        #expect(result.unfinishedOps == 0, "\(result.unanswered.prefix(3))")
    }

    @Test func aSeedReplaysExactly() {
        var a: [String] = []
        var b: [String] = []
        _ = Swarm.run(seed: 7, traceSink: { a.append($0) })
        _ = Swarm.run(seed: 7, traceSink: { b.append($0) })
        #expect(a.count > 100)
        #expect(a == b)
    }

    @Test func seedsDrawDifferentClusters() {
        let shapes = Set((1...20 as ClosedRange<UInt64>).map { seed in
            let s = Swarm.scenario(seed: seed)
            return "\(s.regions.count)x\(s.nodesPerRegion)"
        })
        #expect(shapes.count >= 5)
    }

    /// Teeth: each mutant is caught within the first seeds (all of them within 200 in CI).
    @Test(arguments: CoreMutant.allCases)
    func mutantsAreCaught(mutant: CoreMutant) {
        let caught = (1...40 as ClosedRange<UInt64>).contains { seed in
            !Swarm.run(seed: seed, mutant: mutant).violations.isEmpty
        }
        #expect(caught, "\(mutant.rawValue) survived 40 seeds")
    }
}
