import LisCore
import Testing

@testable import LisSim

/// The seed's story, computed by the real protocol: the student's document blocks move to the
/// student's region after a few slow writes, the OS blocks stay in New York, and nothing is lost
/// on the way. The region and the blocks are seed 1's draw (`sydneyStudentLayout`).
@Suite struct SydneyStudentTests {
    static let report = Simulation(scenario: Scenario.builtIn("sydney-student", seed: 1)!, seed: 1).run()
    static let layout = BuiltInScenarios.sydneyStudentLayout(seed: 1)
    /// RTT(nyc, the student's region): what a forwarded write and each Hive round trip cost.
    static let rttMs = DefaultTopology.topology.rttMs(RegionID("nyc"), layout.student)!

    @Test func exactlyTheDocumentBlocksMoveToTheStudent() {
        let moved = Self.report.moves.map(\.key.block.index).sorted()
        #expect(moved == Array(Self.layout.documentBlocks), "each of the 16 document blocks moves once; no OS block moves")
        #expect(Self.report.moves.allSatisfy { $0.from == RegionID("nyc") && $0.to == Self.layout.student })
    }

    @Test func movesFollowAFewSlowWrites() {
        let slow = Self.report.slowWritesBeforeMove
        #expect(slow.p50 <= 4)
        #expect(slow.max <= 6)
        #expect(Self.report.moves.allSatisfy { $0.slowWritesBefore >= 3 }, "the ≥10× tier needs three slow writes")
    }

    @Test func theStudentWritesAtLocalSpeed() throws {
        let student = try #require(Self.report.regions.first { $0.region == Self.layout.student })
        #expect(student.writes == 12_000 && student.failed == 0)
        #expect(student.localWriteFraction >= 0.95)
        #expect(SimReport.percentile(student.writeLatenciesMs, 50) < 1)
        // The slow writes were real WAN round trips.
        #expect(SimReport.percentile(student.writeLatenciesMs, 100) > Self.rttMs)
        // OS reads still go to New York: those blocks stayed there.
        #expect(SimReport.percentile(student.readLatenciesMs, 50) > Self.rttMs)
    }

    @Test func stealTimesAreWhatTheMessagesCost() {
        // Two Hive round trips (Hive is in New York); New York's promise and transfer ride on
        // Hive's watch and travel alongside Hive's first reply. Plus fsyncs and the transfer:
        // at least 2 × RTT(nyc, student), and varying with jitter.
        let rtt = Self.rttMs
        let times = Self.report.moves.map(\.stealMs)
        #expect(times.allSatisfy { $0 >= 2 * rtt && $0 < 2 * rtt * 1.05 + 30 }, "\(times)")
        #expect(Set(times).count > 8, "steal times are measured, not a constant")
    }

    @Test func safetyHeld() {
        #expect(Self.report.violations.isEmpty, "\(Self.report.violations.prefix(3))")
        #expect(Self.report.checkedOps > 0)
    }
}

@Suite struct DeterminismTests {
    static func shortScenario(seed: UInt64) -> Scenario {
        var scenario = Scenario.builtIn("sydney-student", seed: seed)!
        scenario.trace = scenario.trace.filter { $0.tMs < 75_000 }
        return scenario
    }

    @Test func sameSeedSameTraceOtherSeedOtherTrace() {
        func trace(_ seed: UInt64) -> ([String], String) {
            let sim = Simulation(scenario: Self.shortScenario(seed: seed), seed: seed)
            var lines: [String] = []
            sim.traceSink = { lines.append($0) }
            let digest = sim.run().digest
            return (lines, digest)
        }
        let (a, digestA) = trace(5)
        let (b, digestB) = trace(5)
        let (_, digestC) = trace(6)
        #expect(a.count > 10_000)
        #expect(a == b, "byte-identical event trace")
        #expect(digestA == digestB)
        #expect(digestA != digestC)
    }

    /// Adaptive hands blocks over with their counts, sums rates and reports round trips:
    /// none of it may depend on a dictionary's order, which differs between runs.
    @Test func adaptiveReplaysExactly() {
        var scenario = Scenario.builtIn("region-degraded", seed: 1)!
        scenario.trace = scenario.trace.filter { $0.tMs < 40_000 }
        scenario.policy.name = .adaptive
        func trace() -> [String] {
            let sim = Simulation(scenario: scenario, seed: 1)
            var lines: [String] = []
            sim.traceSink = { lines.append($0) }
            #expect(sim.run().moves.count > 0)
            return lines
        }
        let first = trace()
        #expect(first.contains { $0.contains("handOver") } && first.contains { $0.contains("pong") })
        #expect(first == trace(), "byte-identical event trace")
    }
}

/// Several nodes per region: writes commit on a majority of the holder's region, and the
/// steal fences a majority of the old region and installs on a majority of the new one.
@Suite struct MultiNodeRegionTests {
    @Test func stealsWorkWithThreeNodesPerRegion() throws {
        var scenario = DeterminismTests.shortScenario(seed: 3)
        scenario.nodesPerRegion = 3
        let report = Simulation(scenario: scenario, seed: 3).run()
        #expect(report.violations.isEmpty, "\(report.violations.prefix(3))")
        #expect(report.moves.count == 16)
        #expect(report.checkedOps > 0)
        let studentRegion = try #require(scenario.trace.first { $0.client == "student" }?.region)
        let student = try #require(report.regions.first { $0.region == studentRegion })
        // Local writes now wait for an in-region quorum: about one 0.5 ms round trip.
        #expect(SimReport.percentile(student.writeLatenciesMs, 50) > 0.5)
        #expect(SimReport.percentile(student.writeLatenciesMs, 50) < 1)
    }

    @Test func surviveRegionWritesWaitForTheNearestRegion() throws {
        var scenario = DeterminismTests.shortScenario(seed: 4)
        scenario.volumes[0].survive = .region
        let report = Simulation(scenario: scenario, seed: 4).run()
        #expect(report.violations.isEmpty)
        let nyc = try #require(report.regions.first { $0.region == RegionID("nyc") })
        // New York's Q2 includes London (80.5 ms away), the nearest other region.
        #expect(SimReport.percentile(nyc.writeLatenciesMs, 50) > 80.5)
    }
}

/// `region-degraded`: London, the best holder of the shared volume while it is healthy, slows
/// fivefold at 600 s. Adaptive weighs measured round trips (its own and those other nodes
/// report), so it holds most blocks in London before and none soon after.
@Suite struct EvacuationTests {
    @Test func adaptiveEvacuatesTheDegradedRegion() throws {
        var scenario = try #require(Scenario.builtIn("region-degraded", seed: 1))
        scenario.trace = scenario.trace.filter { $0.tMs < 680_000 }
        scenario.policy.name = .adaptive
        let report = Simulation(scenario: scenario, seed: 1).run()
        #expect(report.violations.isEmpty)
        let london = RegionID("london")
        func heldInLondon(atMs t: Double) -> Int {
            var holders = [UInt64: RegionID](uniqueKeysWithValues: (0..<16).map { ($0, london) })
            for move in report.moves where move.tMs <= t { holders[move.key.block.index] = move.to }
            return holders.values.count { $0 == london }
        }
        #expect(heldInLondon(atMs: 599_000) >= 8)
        #expect(heldInLondon(atMs: 640_000) == 0)
        #expect(heldInLondon(atMs: 680_000) == 0)
    }
}
