import Foundation
import LisCore
import Testing

@testable import LisSim

// MARK: - Properties every catalogue scenario has

@Suite struct ScenarioCatalogTests {
    static let names = [
        "follow-the-sun", "ping-pong", "moving-locality", "zipf-global", "one-off", "pinned", "region-degraded",
    ]
    static let mib: UInt64 = 1 << 20

    @Test func theCatalogueIsListedAfterSydneyStudent() {
        #expect(Scenario.builtInNames == ["sydney-student"] + Self.names)
        for name in Self.names { #expect(Scenario.builtIn(name, seed: 1)?.name == name) }
    }

    @Test(arguments: names)
    func theSeedDeterminesTheScenario(_ name: String) throws {
        let scenario = try #require(Scenario.builtIn(name, seed: 11))
        #expect(Scenario.builtIn(name, seed: 11) == scenario)
        // Every catalogue scenario draws its blocks (and more) from the seed.
        #expect(Scenario.builtIn(name, seed: 12)?.trace != scenario.trace)
    }

    @Test(arguments: names)
    func theTraceIsSortedAndStaysInsideItsVolumes(_ name: String) throws {
        let scenario = try #require(Scenario.builtIn(name, seed: 3))
        #expect(!scenario.trace.isEmpty)
        #expect(scenario.trace.count < 150_000)
        #expect(zip(scenario.trace, scenario.trace.dropFirst()).allSatisfy { $0.tMs <= $1.tMs })
        #expect(scenario.trace.allSatisfy { $0.tMs >= 0 && $0.tMs == TraceOp.canonicalTimeMs($0.tMs) })
        #expect(scenario.topologyTOML == DefaultTopology.toml)
        #expect(scenario.regions.allSatisfy { DefaultTopology.topology.regions.contains($0) })
        #expect(scenario.regions.contains(scenario.hiveRegion))
        #expect(scenario.nodesPerRegion == 1)

        let volumes = Dictionary(uniqueKeysWithValues: scenario.volumes.map { ($0.name, $0) })
        #expect(volumes.count == scenario.volumes.count)
        #expect(scenario.volumes.allSatisfy { $0.blockSizeBytes == Self.mib && scenario.regions.contains($0.home) })
        for op in scenario.trace {
            let volume = try #require(volumes[op.volume], "\(name): unknown volume \(op.volume)")
            #expect(scenario.regions.contains(op.region))
            #expect(op.op != .flush && op.length == 4096 && op.offset % 4096 == 0)
            // Within one block, and the block is inside the volume.
            #expect(op.offset % Self.mib + op.length <= Self.mib)
            #expect(op.offset + op.length <= volume.sizeBytes)
        }
    }

    @Test(arguments: names)
    func exportThenLoadGivesTheSameScenario(_ name: String) throws {
        let scenario = try #require(Scenario.builtIn(name, seed: 5))
        let directory = try TempDirectory()
        try scenario.export(to: directory.path)
        #expect(try Scenario.load(path: directory.file("scenario.toml")) == scenario)
    }

    /// Seed 1's sizes, pinned so that a change to a generator (or to the order of its draws)
    /// shows up here rather than as an unexplained shift in benchmark results.
    @Test func seedOneSizes() throws {
        let expected: [(name: String, ops: Int, lastMs: Double)] = [
            ("follow-the-sun", 129_962, 284_393_758.1),
            ("ping-pong", 7200, 3_599_500),
            ("moving-locality", 6000, 599_900),
            ("zipf-global", 18_000, 599_966.666),
            ("one-off", 7214, 3_599_500),
            ("pinned", 3600, 599_800),
            ("region-degraded", 12_000, 1_199_900),
        ]
        for (name, ops, lastMs) in expected {
            let scenario = try #require(Scenario.builtIn(name, seed: 1))
            #expect(scenario.trace.count == ops, "\(name)")
            #expect(scenario.trace.last?.tMs == lastMs, "\(name)")
        }
    }
}

// MARK: - What each scenario generates

// Nested in ScenarioCatalogTests so that `swift test --filter ScenarioCatalogTests` runs them.
extension ScenarioCatalogTests {
    @Suite struct Contents {
        let nyc = RegionID("nyc")
        let london = RegionID("london")
        let frankfurt = RegionID("frankfurt")
        let tokyo = RegionID("tokyo")
        let sydney = RegionID("sydney")
        let mib = ScenarioCatalogTests.mib
        let hourMs = 3_600_000.0

        @Test func followTheSunWorksOfficeHoursOnThreeDays() throws {
            let scenario = try #require(Scenario.builtIn("follow-the-sun", seed: 1))
            #expect(scenario.regions == [sydney, london, nyc])
            #expect(scenario.hiveRegion == london)
            #expect(
                scenario.volumes.map(\.name.name) == ["workspace", "private-sydney", "private-london", "private-nyc"])
            #expect(scenario.volumes.map(\.blockCount) == [64, 16, 16, 16])

            for (region, utcOffsetHours) in [(sydney, 10.0), (london, 0), (nyc, -5)] {
                let ops = scenario.trace.filter { $0.region == region }
                // Local clock time, wrapped into a day.
                let localHours = ops.map { ($0.tMs / hourMs + utcOffsetHours + 48).truncatingRemainder(dividingBy: 24) }
                #expect(localHours.allSatisfy { $0 >= 9 && $0 < 17 }, "\(region) works outside 09–17 local")
                // Working days, counted from the first: ⌊(t − first start) / 24 h⌋.
                let firstStartMs = ((9 - utcOffsetHours + 24).truncatingRemainder(dividingBy: 24)) * hourMs
                var perDay: [Int: Int] = [:]
                for op in ops { perDay[Int(((op.tMs - firstStartMs) / (24 * hourMs)).rounded(.down)), default: 0] += 1 }
                #expect(perDay.keys.sorted() == [0, 1, 2], "\(region): days \(perDay.keys.sorted())")
                // 0.5 operations/s for 8 h is 14,400 a day; the Poisson spread is about 120.
                #expect(perDay.values.allSatisfy { (13_500...15_300).contains($0) }, "\(region): \(perDay)")

                let workspace = ops.filter { $0.volume.name == "workspace" }
                let own = ops.filter { $0.volume.name == "private-\(region)" }
                #expect(workspace.count + own.count == ops.count)
                #expect(abs(Double(workspace.count) / Double(ops.count) - 0.5) < 0.02)
                #expect(abs(Double(ops.count { $0.op == .write }) / Double(ops.count) - 0.7) < 0.02)
                #expect(Set(workspace.map { $0.offset / mib }).count == 64)
            }
            // london's and nyc's working days overlap at 14–17 UTC.
            let overlap = scenario.trace.filter {
                ($0.tMs / hourMs).truncatingRemainder(dividingBy: 24) >= 14
                    && ($0.tMs / hourMs).truncatingRemainder(dividingBy: 24) < 17
            }
            #expect(Set(overlap.map(\.region)) == [london, nyc])
        }

        @Test func pingPongAlternatesTurnsEveryFiveSeconds() throws {
            let scenario = try #require(Scenario.builtIn("ping-pong", seed: 1))
            #expect(scenario.regions == [london, nyc])
            #expect(scenario.volumes.map(\.home) == [london])
            #expect(scenario.trace.allSatisfy { $0.op == .write })
            var perTurn: [Int: Int] = [:]
            for op in scenario.trace {
                let turn = Int((op.tMs / 5000).rounded(.down))
                #expect(
                    op.region == (turn.isMultiple(of: 2) ? london : nyc), "turn \(turn) at \(op.tMs) ms by \(op.region)"
                )
                perTurn[turn, default: 0] += 1
            }
            #expect(perTurn.keys.sorted() == Array(0..<720))
            #expect(perTurn.values.allSatisfy { $0 == 10 })
            #expect(Set(scenario.trace.map { $0.offset / mib }) == Set(0..<8))
            let firstOfNyc = try #require(scenario.trace.first { $0.region == nyc })
            #expect(firstOfNyc.tMs == 5000)
        }

        @Test func movingLocalityFollowsDriftingCentres() throws {
            let scenario = try #require(Scenario.builtIn("moving-locality", seed: 1))
            let regions = [nyc, london, tokyo, sydney, RegionID("saopaulo")]
            #expect(scenario.regions == regions)
            #expect(scenario.volumes.map(\.blockCount) == [1000])
            #expect(scenario.trace.count == 6000)
            var distances: [Int] = []
            for (index, region) in regions.enumerated() {
                let ops = scenario.trace.filter { $0.region == region }
                #expect(ops.count == 1200)
                for op in ops {
                    let centre = 200 * index + Int(op.tMs / 2000)
                    // The signed distance from the centre on the ring of 1,000 blocks.
                    distances.append(((Int(op.offset / mib) - centre) % 1000 + 1500) % 1000 - 500)
                }
            }
            // Rounded normal with sigma 8: all within 6 sigma, and the spread close to 8.
            #expect(distances.allSatisfy { abs($0) <= 48 })
            let variance = Double(distances.map { $0 * $0 }.reduce(0, +)) / Double(distances.count)
            #expect(abs(variance.squareRoot() - 8) < 0.5)
            #expect(abs(Double(scenario.trace.count { $0.op == .write }) / 6000 - 0.5) < 0.03)
            // The drift reaches the far side of the ring: block 999 and block 0 are both used.
            let blocks = Set(scenario.trace.map { $0.offset / mib })
            #expect(blocks.contains(0) && blocks.contains(999))
        }

        @Test func zipfGlobalMixesRegionsAndFavoursLowBlocks() throws {
            let scenario = try #require(Scenario.builtIn("zipf-global", seed: 1))
            #expect(scenario.regions == [nyc, london, tokyo])
            #expect(scenario.volumes.count == 20)
            #expect(scenario.volumes.map(\.home) == (0..<20).map { [nyc, london, tokyo][$0 % 3] })
            #expect(scenario.volumes.allSatisfy { $0.blockCount == 64 })
            let count = Double(scenario.trace.count)
            #expect(scenario.trace.count == 18_000)
            for (region, share) in [(nyc, 0.7), (london, 0.2), (tokyo, 0.1)] {
                #expect(abs(Double(scenario.trace.count { $0.region == region }) / count - share) <= 0.03)
            }
            #expect(abs(Double(scenario.trace.count { $0.op == .write }) / count - 0.6) <= 0.03)
            for volume in scenario.volumes {
                var perBlock = [Int](repeating: 0, count: 64)
                for op in scenario.trace where op.volume == volume.name { perBlock[Int(op.offset / mib)] += 1 }
                #expect(perBlock[0] > perBlock[1...].max()!, "\(volume.name): \(perBlock.prefix(4))")
                // Zipf(0.99) over 64 ranks gives rank 0 about 21 % of a volume's operations.
                #expect(abs(Double(perBlock[0]) / Double(perBlock.reduce(0, +)) - 0.21) < 0.05)
            }
            // 30 operations/s for 10 minutes.
            #expect(scenario.trace.last!.tMs < 600_000 && scenario.trace.last!.tMs > 599_900)
        }

        @Test func oneOffVisitsAreMinutesApartAndNeverRepeatABlock() throws {
            let scenario = try #require(Scenario.builtIn("one-off", seed: 1))
            #expect(scenario.regions == [nyc, sydney])
            #expect(scenario.volumes.map(\.home) == [nyc])
            #expect(scenario.trace.allSatisfy { $0.op == .write })
            let home = scenario.trace.filter { $0.region == nyc }
            #expect(home.count == 7200)
            #expect(Set(home.map { $0.offset / mib }).count == 32)
            for seed: UInt64 in 1...20 {
                let visits = try #require(Scenario.builtIn("one-off", seed: seed)).trace.filter { $0.region == sydney }
                #expect((11...19).contains(visits.count))
                #expect(visits.first!.tMs >= 180_000 && visits.first!.tMs <= 300_000)
                #expect(zip(visits, visits.dropFirst()).allSatisfy { (180_000...300_000).contains($1.tMs - $0.tMs) })
                #expect(visits.last!.tMs < 3_600_000)
                #expect(Set(visits.map { $0.offset / mib }).count == visits.count)
            }
        }

        @Test func pinnedIsAllowedInEuropeAndWrittenFromNewYork() throws {
            let scenario = try #require(Scenario.builtIn("pinned", seed: 1))
            #expect(scenario.regions == [london, frankfurt, nyc])
            let volume = try #require(scenario.volumes.first)
            #expect(scenario.volumes.count == 1)
            #expect(volume.home == london)
            #expect(volume.allowedRegions == [london, frankfurt])
            #expect(!volume.allows(nyc))
            #expect(scenario.trace.allSatisfy { $0.region == nyc })
            #expect(scenario.trace.count { $0.op == .write } == 3000)
            #expect(scenario.trace.count { $0.op == .read } == 600)
            #expect(Set(scenario.trace.map { $0.offset / mib }).count == 16)
        }

        @Test func regionDegradedSlowsLondonFivefoldAtTenMinutes() throws {
            let scenario = try #require(Scenario.builtIn("region-degraded", seed: 1))
            #expect(scenario.regions == [nyc, london, frankfurt])
            #expect(scenario.hiveRegion == frankfurt)
            #expect(scenario.volumes.map(\.home) == [london])
            #expect(scenario.latencyChanges == [LatencyChange(atMs: 600_000, region: london, factor: 5)])
            #expect(scenario.trace.allSatisfy { $0.op == .write })
            for region in [nyc, london, frankfurt] {
                #expect(scenario.trace.count { $0.region == region } == 4000)
            }
            #expect(scenario.trace.last!.tMs == 1_199_900)

            #expect(scenario.latencyFactor(nyc, london, atMs: 599_999.999) == 1)
            #expect(scenario.latencyFactor(london, nyc, atMs: 600_000) == 5)
            #expect(scenario.latencyFactor(london, london, atMs: 700_000) == 5)
            #expect(scenario.latencyFactor(nyc, frankfurt, atMs: 700_000) == 1)
        }
    }

}

// MARK: - [[latency_change]] in scenario files

extension ScenarioCatalogTests {
    @Suite struct LatencyChangeFiles {
        @Test func latencyFactorUsesTheLatestChangeOfEachEnd() {
            var scenario = Scenario.builtIn("region-degraded", seed: 1)!
            let (nyc, london, frankfurt) = (RegionID("nyc"), RegionID("london"), RegionID("frankfurt"))
            scenario.latencyChanges = [
                LatencyChange(atMs: 100, region: nyc, factor: 5),
                LatencyChange(atMs: 200, region: london, factor: 2),
                LatencyChange(atMs: 300, region: nyc, factor: 1),
            ]
            #expect(scenario.latencyFactor(nyc, frankfurt, atMs: 99) == 1)
            #expect(scenario.latencyFactor(nyc, frankfurt, atMs: 100) == 5)
            // Both ends degraded: the link is slowed by both; the intra-region RTT by one.
            #expect(scenario.latencyFactor(nyc, london, atMs: 250) == 10)
            #expect(scenario.latencyFactor(london, london, atMs: 250) == 2)
            // A later change for the same region replaces the earlier one.
            #expect(scenario.latencyFactor(nyc, frankfurt, atMs: 300) == 1)
            #expect(scenario.latencyFactor(nyc, london, atMs: 300) == 2)
        }

        @Test func changesRoundTripThroughTheFile() throws {
            var scenario = Scenario.builtIn("sydney-student", seed: 2)!
            scenario.latencyChanges = [
                LatencyChange(atMs: 0, region: scenario.regions[1], factor: 0.5),
                LatencyChange(atMs: 1.001, region: scenario.regions[2], factor: 3),
                LatencyChange(atMs: 600_000, region: RegionID("nyc"), factor: 5),
                LatencyChange(atMs: 600_000, region: RegionID("nyc"), factor: 1.25),
            ]
            let directory = try TempDirectory()
            try scenario.export(to: directory.path)
            let text = try String(contentsOfFile: directory.file("scenario.toml"), encoding: .utf8)
            #expect(text.contains("[[latency_change]]\nat_s = 600.0\nregion = \"nyc\"\nfactor = 5.0\n"))
            #expect(try Scenario.load(path: directory.file("scenario.toml")) == scenario)
        }

        @Test func integerSecondsAndFactorsAreAccepted() throws {
            let directory = try TempDirectory()
            try directory.write(
                "scenario.toml",
                ScenarioFiles.scenario + "\n[[latency_change]]\nat_s = 600\nregion = \"nyc\"\nfactor = 5\n")
            try directory.write("trace.jsonl", ScenarioFiles.tracePrefix)
            let scenario = try Scenario.load(path: directory.file("scenario.toml"))
            #expect(scenario.latencyChanges == [LatencyChange(atMs: 600_000, region: RegionID("nyc"), factor: 5)])
        }

        @Test func aFileWithoutChangesHasNone() throws {
            let directory = try TempDirectory()
            try directory.write("scenario.toml", ScenarioFiles.scenario)
            try directory.write("trace.jsonl", ScenarioFiles.tracePrefix)
            #expect(try Scenario.load(path: directory.file("scenario.toml")).latencyChanges == [])
        }

        static let good = "[[latency_change]]\nat_s = 600.0\nregion = \"nyc\"\nfactor = 5.0\n"

        static let badCases: [BadScenario] = [
            .adding(
                "unknown region", good.replacingOccurrences(of: "\"nyc\"", with: "\"atlantis\""),
                "scenario.toml: latency_change[0].region: ", "\"atlantis\" is not one of the scenario's regions"),
            .adding(
                "region outside the scenario", good.replacingOccurrences(of: "\"nyc\"", with: "\"tokyo\""),
                "latency_change[0].region: ", "tokyo"),
            .adding(
                "factor zero", good.replacingOccurrences(of: "5.0", with: "0"),
                "scenario.toml: latency_change[0].factor: must be > 0", "got 0.0"),
            .adding(
                "factor negative", good.replacingOccurrences(of: "5.0", with: "-2.0"),
                "latency_change[0].factor: must be > 0"),
            .adding(
                "factor a string", good.replacingOccurrences(of: "5.0", with: "\"5\""),
                "latency_change[0].factor: must be a number"),
            .adding(
                "factor infinite", good.replacingOccurrences(of: "5.0", with: "inf"),
                "latency_change[0].factor: must be a number"),
            .adding(
                "at_s negative", good.replacingOccurrences(of: "600.0", with: "-1"),
                "latency_change[0].at_s: must be from 0"),
            .adding(
                "at_s too late", good.replacingOccurrences(of: "600.0", with: "1e10"),
                "latency_change[0].at_s: must be from 0"),
            .adding(
                "at_s missing", good.replacingOccurrences(of: "at_s = 600.0\n", with: ""),
                "latency_change[0].at_s: missing"),
            .adding(
                "region missing", good.replacingOccurrences(of: "region = \"nyc\"\n", with: ""),
                "latency_change[0].region: missing"),
            .adding(
                "factor missing", good.replacingOccurrences(of: "factor = 5.0\n", with: ""),
                "latency_change[0].factor: missing"),
            .adding("unknown key", good + "colour = 1\n", "latency_change[0].colour: unknown key"),
            .adding(
                "out of time order", good + good.replacingOccurrences(of: "600.0", with: "300.0"),
                "latency_change[1].at_s: ", "time order"),
            // At the top level: appended after [[volume]], the key would belong to the volume.
            .toml(
                "not an array of tables", "trace = ", "latency_change = 5\ntrace = ",
                "scenario.toml: latency_change: must be an array of tables"),
        ]

        @Test(arguments: badCases)
        func aBadChangeIsRefusedWithItsKey(_ bad: BadScenario) throws {
            let directory = try TempDirectory()
            try directory.write(
                "scenario.toml", try BadScenario.edited(ScenarioFiles.scenario, bad.scenarioEdits) + bad.appended)
            try directory.write("trace.jsonl", ScenarioFiles.tracePrefix)
            let error = #expect(throws: ScenarioError.self) { try Scenario.load(path: directory.file("scenario.toml")) }
            for text in bad.expected {
                #expect(error?.description.contains(text) == true, "\(error?.description ?? "no error") lacks \(text)")
            }
        }

        @Test func exportRefusesAChangeItCouldNotReadBack() throws {
            var scenario = Scenario.builtIn("ping-pong", seed: 1)!
            scenario.latencyChanges = [LatencyChange(atMs: 10, region: RegionID("tokyo"), factor: 2)]
            let directory = try TempDirectory()
            let error = #expect(throws: ScenarioError.self) { try scenario.export(to: directory.path) }
            #expect(error?.description.contains("latency_change[0].region") == true)
            scenario.latencyChanges = [LatencyChange(atMs: 10, region: RegionID("nyc"), factor: .infinity)]
            #expect(throws: ScenarioError.self) { try scenario.export(to: directory.path) }
        }
    }
}
