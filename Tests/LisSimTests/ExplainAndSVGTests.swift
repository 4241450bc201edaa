import LisCore
import Testing

@testable import LisSim

/// `lis sim run --explain` and `lis sim compare --svg`, on ping-pong (short, contested).
@Suite struct ExplainAndSVGTests {
    static func run(_ policy: PolicyName, explain: BlockKey? = nil) -> (Scenario, SimReport) {
        var scenario = Scenario.builtIn("ping-pong", seed: 1)!
        scenario.policy.name = policy
        scenario.trace = scenario.trace.filter { $0.tMs < 120_000 }
        let simulation = Simulation(scenario: scenario, seed: 1)
        simulation.explainKey = explain
        return (scenario, simulation.run())
    }

    /// Adaptive keeps the contested block where it is and says why, with the numbers; the
    /// records are only the explained block's.
    @Test func aContestedBlockRecordsWhyItStays() {
        let key = BlockKey(VolumeName("shared"), BlockID(3))
        let (_, report) = Self.run(.adaptive, explain: key)
        let declined = report.explanations.filter { $0.kind == "declined" }
        #expect(!declined.isEmpty)
        #expect(declined.allSatisfy { $0.text.hasPrefix("→ nyc: adaptive declined nyc: ") && $0.text.contains(" ms") })
        // At most one per 10 s per holder.
        let times = declined.map(\.tMs)
        #expect(zip(times, times.dropFirst()).allSatisfy { $1 - $0 >= 10_000 })
        #expect(report.explained(key).contains("decisions for shared:3"))
        let (_, none) = Self.run(.adaptive)
        #expect(none.explanations.isEmpty, "nothing is kept without --explain")
    }

    /// A move shows up as the steal, the fence and the move, each with its reason.
    @Test func aMoveRecordsItsSteps() {
        let key = BlockKey(VolumeName("shared"), BlockID(0))
        let (_, report) = Self.run(.wpaxosConsecutive, explain: key)
        let kinds = Set(report.explanations.map(\.kind))
        #expect(kinds.isSuperset(of: ["steal started", "fenced", "moved"]))
        #expect(report.explanations.first { $0.kind == "moved" }?.text.contains("wpaxos-consecutive: 3 consecutive operations") == true)
    }

    /// One latency chart with a line per policy, and one holder map per policy whose cells
    /// use the regions' colours.
    @Test func theSVGFilesDrawEveryPolicy() {
        let (scenario, a) = Self.run(.static)
        let (_, b) = Self.run(.wpaxosMajority)
        let files = ComparisonSVG(scenario: scenario, runs: [("static", a), ("wpaxos-majority", b)]).files()
        #expect(files.map(\.0) == ["ping-pong-latency.svg", "ping-pong-static-holders.svg", "ping-pong-wpaxos-majority-holders.svg"])
        #expect(files.allSatisfy { $0.1.hasPrefix("<svg xmlns='http://www.w3.org/2000/svg'") && $0.1.hasSuffix("</svg>\n") })
        let latency = files[0].1
        #expect(latency.components(separatedBy: "<path d='M").count - 1 == 2)
        #expect(latency.contains("static (") && latency.contains("wpaxos-majority ("))
        // Static never moves: every row of its map is one rectangle in London's colour (the
        // legend has one square of each region's).
        func count(_ svg: String, _ colour: Int) -> Int { svg.components(separatedBy: "fill='\(ComparisonSVG.palette[colour])'").count - 1 }
        #expect(count(files[1].1, 0) == 8 + 1)
        #expect(count(files[1].1, 1) == 1)
        // wpaxos-majority moves blocks to New York, so its map has both colours.
        #expect(count(files[2].1, 1) > 1)
    }
}
