import Foundation
import LisCore
import Testing

@testable import LisSim

// MARK: - The built-in sydney-student scenario

@Suite struct ScenarioBuiltInTests {
    let scenario = Scenario.builtIn("sydney-student", seed: 42)!
    let layout = BuiltInScenarios.sydneyStudentLayout(seed: 42)
    let mib: UInt64 = 1 << 20

    @Test func isListedAndUnknownNamesAreNil() {
        #expect(Scenario.builtInNames.first == "sydney-student")
        #expect(Set(Scenario.builtInNames).count == Scenario.builtInNames.count, "names are unique")
        #expect(Scenario.builtIn("no-such-scenario", seed: 1) == nil)
    }

    @Test func setup() {
        #expect(scenario.name == "sydney-student")
        #expect(scenario.regions == [RegionID("nyc"), layout.bystander, layout.student])
        #expect(layout.student != RegionID("nyc") && layout.bystander != RegionID("nyc"))
        #expect(layout.student != layout.bystander)
        #expect(scenario.nodesPerRegion == 1)
        #expect(scenario.hiveRegion == RegionID("nyc"))
        #expect(scenario.topologyTOML == DefaultTopology.toml)
        #expect(scenario.migration == MigrationConfig())
        #expect(scenario.policy == PolicyConfig())
        #expect(
            scenario.volumes == [
                VolumeSpec(
                    name: VolumeName("vm-100-disk-0"), sizeBytes: 1 << 30, blockSizeBytes: mib,
                    home: RegionID("nyc"), survive: .node)
            ])
    }

    @Test func counts() {
        func count(_ region: String, _ op: OpKind) -> Int {
            scenario.trace.count { $0.region == RegionID(region) && $0.op == op }
        }
        #expect(count("nyc", .read) == 4096)
        #expect(count("nyc", .write) == 200)
        #expect(count(layout.student.name, .write) == 12_000)
        #expect(count(layout.student.name, .read) == 3000)
        #expect(scenario.trace.count == 4096 + 200 + 12_000 + 3000)
        #expect(!scenario.trace.contains { $0.region == layout.bystander || $0.op == .flush })
    }

    @Test func bootReadsTheOSBlocksOnceInOrderWithinTheFirstMinute() {
        let reads = scenario.trace.filter { $0.client == "vm-boot" && $0.op == .read }
        #expect(reads.map(\.offset) == (0..<4096).map { UInt64($0) * 65536 })
        #expect(reads.allSatisfy { $0.length == 65536 && $0.tMs >= 0 && $0.tMs < 60_000 })
        #expect(reads[1].tMs == 14.648)
        let writes = scenario.trace.filter { $0.client == "vm-boot" && $0.op == .write }
        #expect(writes.allSatisfy { $0.length == 4096 && $0.offset % 4096 == 0 && $0.offset < 256 * mib })
        #expect(writes.allSatisfy { $0.tMs >= 0 && $0.tMs < 60_000 })
    }

    @Test func studentWritesDocumentBlocksAndReadsOSBlocks() {
        let writes = scenario.trace.filter { $0.client == "student" && $0.op == .write }
        #expect(layout.documentBlocks.count == 16 && layout.documentBlocks.lowerBound >= 256)
        #expect(layout.documentBlocks.upperBound < scenario.volumes[0].blockCount)
        #expect(writes.allSatisfy { layout.documentBlocks.contains($0.offset / mib) && $0.region == layout.student })
        #expect(writes.allSatisfy { $0.offset % 4096 == 0 && $0.length == 4096 })
        #expect(Set(writes.map { $0.offset / mib }).count == 16)
        #expect(writes.map(\.tMs) == stride(from: 60_000.0, to: 660_000, by: 50).map { $0 })
        let reads = scenario.trace.filter { $0.client == "student" && $0.op == .read }
        #expect(reads.allSatisfy { $0.offset / mib < 256 && $0.offset % 65536 == 0 && $0.length == 65536 })
        #expect(reads.map(\.tMs) == stride(from: 60_000.0, to: 660_000, by: 200).map { $0 })
    }

    @Test func traceIsSortedAndTiesPutTheWriteFirst() {
        #expect(zip(scenario.trace, scenario.trace.dropFirst()).allSatisfy { $0.tMs <= $1.tMs })
        let atSixtySeconds = scenario.trace.filter { $0.tMs == 60_000 && $0.client == "student" }
        #expect(atSixtySeconds.map(\.op) == [.write, .read])
    }

    @Test func seedDeterminesTheTrace() {
        #expect(Scenario.builtIn("sydney-student", seed: 42)! == scenario)
        #expect(Scenario.builtIn("sydney-student", seed: 43)!.trace != scenario.trace)
    }

    /// The student's region and the documents are the seed's: over seeds 1–5 the documents
    /// start at five different blocks and the student works from more than one region.
    @Test func seedDrawsTheStudentsRegionAndTheDocuments() {
        let layouts = (1...5).map { BuiltInScenarios.sydneyStudentLayout(seed: UInt64($0)) }
        #expect(Set(layouts.map(\.documentBlocks.lowerBound)).count == 5, "\(layouts)")
        #expect(Set(layouts.map(\.student)).count > 1, "\(layouts)")
        for seed in 1...5 {
            let scenario = Scenario.builtIn("sydney-student", seed: UInt64(seed))!
            let layout = layouts[seed - 1]
            let written = Set(scenario.trace.filter { $0.client == "student" && $0.op == .write }.map { $0.offset / mib })
            #expect(written == Set(layout.documentBlocks), "seed \(seed)")
            #expect(scenario.trace.filter { $0.client == "student" }.allSatisfy { $0.region == layout.student })
        }
    }
}

// MARK: - Export and load

@Suite struct ScenarioExportTests {
    @Test func traceLineFormat() {
        let op = TraceOp(
            tMs: 61_000, region: RegionID("sydney"), client: "student", op: .write,
            volume: VolumeName("vm-100-disk-0"), offset: 943_718_400, length: 4096)
        #expect(
            op.jsonLine
                == #"{"t_ms": 61000.0, "region": "sydney", "client": "student", "op": "write", "volume": "vm-100-disk-0", "offset": 943718400, "length": 4096}"#
        )
        #expect(TraceOp.formatTimeMs(14.648) == "14.648")
        #expect(TraceOp.formatTimeMs(0.5) == "0.5")
        #expect(TraceOp.formatTimeMs(0.05) == "0.05")
        #expect(TraceOp.formatTimeMs(0.001) == "0.001")
        #expect(TraceOp.formatTimeMs(0) == "0.0")
    }

    @Test func builtInRoundTrips() throws {
        let scenario = Scenario.builtIn("sydney-student", seed: 7)!
        let directory = try TempDirectory()
        try scenario.export(to: directory.path)
        let loaded = try Scenario.load(path: directory.file("scenario.toml"))
        #expect(loaded == scenario)

        // The output depends only on the scenario: a second export is byte-identical.
        let again = try TempDirectory()
        try loaded.export(to: again.path)
        for name in ["scenario.toml", "topology.toml", "trace.jsonl"] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: directory.file(name)))
                == Data(contentsOf: URL(fileURLWithPath: again.file(name))))
        }
    }

    @Test func everyOptionRoundTrips() throws {
        var scenario = Scenario.builtIn("sydney-student", seed: 7)!
        scenario.name = "odd \"name\"\twith escapes"
        scenario.nodesPerRegion = 3
        // The seed draws the student's regions; this test names its own (its trace is its own).
        scenario.regions = [RegionID("nyc"), RegionID("london"), RegionID("sydney")]
        scenario.hiveRegion = RegionID("london")
        scenario.volumes.append(
            VolumeSpec(
                name: VolumeName("docs.img"), sizeBytes: 3 * 4096, blockSizeBytes: 64 * 1024, home: RegionID("sydney"),
                survive: .region, allowedRegions: [RegionID("sydney"), RegionID("london")]))
        scenario.migration.minLatencyFactor = 1.5
        scenario.migration.slowWriteThreshold = 7
        scenario.migration.migrationCooldownMs = 0.25
        scenario.migration.maxConcurrentMigrations = 3
        scenario.migration.predictiveMigration = false
        scenario.migration.explicitTiers = [
            MigrationTier(minFactor: 20, slowWrites: 1), MigrationTier(minFactor: 3, slowWrites: 9),
        ]
        scenario.policy.localLatencyFloorMs = 0.125
        scenario.policy.slowWriteWindowMs = 1e-05
        scenario.trace = [
            TraceOp(
                tMs: 0.001, region: RegionID("sydney"), client: "a \"quoted\" \\ client\u{1}", op: .flush,
                volume: VolumeName("docs.img"), offset: 0, length: 0),
            TraceOp(
                tMs: 123_456_789.125, region: RegionID("london"), client: "b", op: .write,
                volume: VolumeName("docs.img"), offset: 8192, length: 4096),
        ]
        let directory = try TempDirectory()
        try scenario.export(to: directory.path + "/nested/dir")
        #expect(try Scenario.load(path: directory.file("nested/dir/scenario.toml")) == scenario)
    }

    @Test func loadedTimesAreRoundedToMicroseconds() throws {
        let directory = try TempDirectory()
        try directory.write("scenario.toml", ScenarioFiles.scenario)
        try directory.write("trace.jsonl", #"{"t_ms": 1.00049, "region": "nyc", "client": "c", "op": "flush", "volume": "vm", "offset": 7, "length": 9}"#)
        let loaded = try Scenario.load(path: directory.file("scenario.toml"))
        #expect(loaded.name == "scenario")
        #expect(loaded.topologyTOML == DefaultTopology.toml)
        #expect(loaded.trace.map(\.tMs) == [1.0])
        #expect(loaded.trace.map(\.offset) == [0])
        #expect(loaded.trace.map(\.length) == [0])
    }

    @Test func defaultTopologyMatchesTheFileAtThePackageRoot() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let file = try String(contentsOf: root.appendingPathComponent("topology/regions.toml"), encoding: .utf8)
        #expect(DefaultTopology.toml == file)
        #expect(DefaultTopology.topology.rttMs(RegionID("nyc"), RegionID("sydney")) == 229.8)
    }
}

// MARK: - Validation errors

/// A small valid scenario that each error case breaks in one place.
enum ScenarioFiles {
    static let scenario = """
        regions = ["nyc", "london", "sydney"]
        hive_region = "nyc"
        trace = "trace.jsonl"

        [[volume]]
        name = "vm"
        size = "1MiB"
        block_size = "64KiB"
        home = "nyc"

        """
    static let line = #"{"t_ms": 1.5, "region": "nyc", "client": "c", "op": "write", "volume": "vm", "offset": 0, "length": 4096}"#
    /// Two valid lines with a blank one between, so the case's line is line 4.
    static let tracePrefix = line + "\n\n" + line + "\n"
    /// Three regions where `sydney` has no link to `london`.
    static let gappyTopology = """
        intra_region_rtt_ms = 0.5
        [[link]]
        a = "nyc"
        b = "london"
        rtt_ms = 80.0
        [[link]]
        a = "nyc"
        b = "sydney"
        rtt_ms = 230.0

        """
}

/// One way to break a scenario, and what its error must mention.
struct BadScenario: Sendable, CustomTestStringConvertible {
    var label: String
    /// Text replacements in `ScenarioFiles.scenario`; each `old` must occur in it.
    var scenarioEdits: [(old: String, new: String)] = []
    var appended: String = ""
    /// Text replacements in `ScenarioFiles.line`, which becomes line 4 of the trace.
    var traceEdits: [(old: String, new: String)] = []
    var topology: String?
    var expected: [String]

    var testDescription: String { label }

    static func toml(_ label: String, _ old: String, _ new: String, _ expected: String...) -> BadScenario {
        BadScenario(label: label, scenarioEdits: [(old, new)], expected: expected)
    }
    static func adding(_ label: String, _ text: String, _ expected: String...) -> BadScenario {
        BadScenario(label: label, appended: text, expected: expected)
    }
    static func trace(_ label: String, _ edits: KeyValuePairs<String, String>, _ expected: String...) -> BadScenario {
        BadScenario(
            label: label, traceEdits: edits.map { ($0.key, $0.value) }, expected: ["trace.jsonl:4: "] + expected)
    }

    static func edited(_ text: String, _ edits: [(old: String, new: String)]) throws -> String {
        var result = text
        for edit in edits {
            try #require(result.contains(edit.old), "the case edits \(edit.old), which is not in the base file")
            result = result.replacingOccurrences(of: edit.old, with: edit.new)
        }
        return result
    }
}

@Suite struct ScenarioValidationTests {
    static let volumeTable = "[[volume]]\nname = \"vm\"\nsize = \"1MiB\"\nblock_size = \"64KiB\"\nhome = \"nyc\""
    static let allRegions = "[\"nyc\", \"london\", \"sydney\"]"

    static let scenarioCases: [BadScenario] = [
        .toml("syntax", "hive_region = \"nyc\"", "hive_region = ", "scenario.toml:2: not valid TOML"),
        .toml("unknown top-level key", "trace = ", "colour = \"red\"\ntrace = ", "scenario.toml: colour: unknown key"),
        .toml("unknown volume key", "home = \"nyc\"", "home = \"nyc\"\ncolour = 1", "volume[0].colour: unknown key"),
        .adding("unknown migration key", "[migration]\ncolour = 1\n", "migration.colour"),
        .adding("bad migration value", "[migration]\nmin_latency_factor = 0.5\n", "migration.min_latency_factor"),
        .adding("unknown policy key", "[policy]\ncolour = 1\n", "policy.colour"),
        .toml("missing regions", "regions = \(allRegions)", "", "regions: missing"),
        .toml("missing hive_region", "hive_region = \"nyc\"", "", "hive_region: missing"),
        .toml("missing trace", "trace = \"trace.jsonl\"", "", "trace: missing"),
        .toml("missing volume", volumeTable, "", "volume: missing"),
        .toml("region not in the topology", "\"sydney\"]", "\"sydney\", \"atlantis\"]", "regions: ", "atlantis"),
        .toml("duplicate region", "\"sydney\"]", "\"sydney\", \"nyc\"]", "regions: ", "nyc"),
        .toml("empty regions", allRegions, "[]", "regions: "),
        .toml("regions not strings", allRegions, "[1]", "regions: must be an array of strings"),
        .toml("hive_region outside regions", "hive_region = \"nyc\"", "hive_region = \"tokyo\"", "hive_region: ", "tokyo"),
        .toml("home outside regions", "home = \"nyc\"", "home = \"tokyo\"", "volume[0].home: ", "tokyo"),
        .toml(
            "allowed_regions outside regions", "home = \"nyc\"", "home = \"nyc\"\nallowed_regions = [\"nyc\", \"tokyo\"]",
            "volume[0].allowed_regions: ", "tokyo"),
        .toml(
            "allowed_regions without home", "home = \"nyc\"", "home = \"nyc\"\nallowed_regions = [\"sydney\"]",
            "volume[0].allowed_regions: must include"),
        .adding(
            "duplicate volume name", "[[volume]]\nname = \"vm\"\nsize = 4096\nhome = \"nyc\"\n", "volume[1].name: ",
            "already"),
        .toml("bad volume name", "name = \"vm\"", "name = \"-vm\"", "volume[0].name: "),
        .toml("size not a multiple of 4096", "size = \"1MiB\"", "size = 5000", "volume[0].size: ", "4096"),
        .toml("size zero", "size = \"1MiB\"", "size = 0", "volume[0].size: "),
        .toml("size negative", "size = \"1MiB\"", "size = -4096", "volume[0].size: "),
        .toml("size unparsable", "size = \"1MiB\"", "size = \"1 parsec\"", "volume[0].size: "),
        .toml("size a float", "size = \"1MiB\"", "size = 4096.0", "volume[0].size: "),
        .toml("block size not a power of two", "\"64KiB\"", "\"96KiB\"", "volume[0].block_size: "),
        .toml("block size too small", "\"64KiB\"", "\"32KiB\"", "volume[0].block_size: "),
        .toml("block size too large", "\"64KiB\"", "\"128MiB\"", "volume[0].block_size: "),
        .toml("bad survive", "home = \"nyc\"", "home = \"nyc\"\nsurvive = \"planet\"", "volume[0].survive: "),
        .toml("no nodes", "trace = ", "nodes_per_region = 0\ntrace = ", "nodes_per_region: must be in 1...9"),
        .toml("too many nodes", "trace = ", "nodes_per_region = 10\ntrace = ", "nodes_per_region: must be in 1...9"),
        .toml("empty name", "trace = ", "name = \"\"\ntrace = ", "name: must not be empty"),
        .toml("topology file missing", "trace = ", "topology = \"nowhere.toml\"\ntrace = ", "topology: ", "nowhere.toml"),
        .toml("trace file missing", "trace = \"trace.jsonl\"", "trace = \"nowhere.jsonl\"", "trace: ", "nowhere.jsonl"),
        BadScenario(
            label: "pair of regions without a link",
            scenarioEdits: [("trace = ", "topology = \"topology.toml\"\ntrace = ")], topology: ScenarioFiles.gappyTopology,
            expected: ["regions: ", "london", "sydney"]),
    ]

    /// Each edits the valid line `ScenarioFiles.line`.
    static let traceCases: [BadScenario] = [
        .trace("bad JSON", [ScenarioFiles.line: #"{"t_ms": "#], "not valid JSON"),
        .trace("not an object", [ScenarioFiles.line: "[1, 2]"], "expected a JSON object"),
        .trace("unknown key", ["4096}": #"4096, "fua": true}"#], "fua: unknown key"),
        .trace("missing key", [#", "length": 4096"#: ""], "length: missing"),
        .trace("flush without offset", [#""write""#: #""flush""#, #""offset": 0, "#: ""], "offset: missing"),
        .trace("t_ms a string", ["1.5": #""1.5""#], "t_ms: must be a number"),
        .trace("t_ms a boolean", ["1.5": "true"], "t_ms: must be a number"),
        .trace("t_ms negative", ["1.5": "-1"], "t_ms: must be from 0"),
        .trace("t_ms too large", ["1.5": "1e13"], "t_ms: must be from 0"),
        .trace("t_ms backwards", ["1.5": "1.25"], "t_ms: ", "non-decreasing"),
        .trace("region a number", [#""nyc""#: "5"], "region: must be a string"),
        .trace("unknown region", [#""nyc""#: #""tokyo""#], #"region: unknown region "tokyo""#),
        .trace("empty client", [#""c""#: #""""#], "client: must not be empty"),
        .trace("unknown op", [#""write""#: #""trim""#], #"op: unknown op "trim""#),
        .trace("unknown volume", [#""vm""#: #""other""#], #"volume: unknown volume "other""#),
        .trace("offset a float", [#""offset": 0"#: #""offset": 0.0"#], "offset: must be an integer"),
        .trace("length negative", ["4096}": "-1}"], "length: must not be negative"),
        .trace("write of length 0", ["4096}": "0}"], "length: must be > 0 for a write"),
        .trace("read of length 0", [#""write""#: #""read""#, "4096}": "0}"], "length: must be > 0 for a read"),
        .trace("range past the end", [#""offset": 0"#: #""offset": 1044481"#], "offset: ", "beyond the end"),
        .trace("offset past the end", [#""offset": 0"#: #""offset": 18446744073709551615"#], "offset: ", "beyond the end"),
    ]

    @Test(arguments: scenarioCases + traceCases)
    func errorNamesTheKeyOrLine(_ bad: BadScenario) throws {
        let directory = try TempDirectory()
        let scenario = try BadScenario.edited(ScenarioFiles.scenario, bad.scenarioEdits) + bad.appended
        try directory.write("scenario.toml", scenario)
        let line = try BadScenario.edited(ScenarioFiles.line, bad.traceEdits)
        try directory.write("trace.jsonl", ScenarioFiles.tracePrefix + line + "\n")
        if let topology = bad.topology { try directory.write("topology.toml", topology) }

        let error = #expect(throws: ScenarioError.self) { try Scenario.load(path: directory.file("scenario.toml")) }
        for text in bad.expected {
            #expect(error?.description.contains(text) == true, "\(error?.description ?? "no error") lacks \(text)")
        }
    }

    @Test func theBaseScenarioIsValid() throws {
        let directory = try TempDirectory()
        try directory.write("scenario.toml", ScenarioFiles.scenario)
        try directory.write("trace.jsonl", ScenarioFiles.tracePrefix)
        let scenario = try Scenario.load(path: directory.file("scenario.toml"))
        #expect(scenario.trace.count == 2)
        #expect(scenario.nodesPerRegion == 1)
        #expect(scenario.volumes.map(\.survive) == [.node])
        #expect(scenario.volumes.map(\.allowedRegions) == [nil])
    }
}

// MARK: - Helpers

/// A fresh directory under the system's temporary directory, removed when the value is freed.
final class TempDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("lis-scenario-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: file(name)))
    }
}
