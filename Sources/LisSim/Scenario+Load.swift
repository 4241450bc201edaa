import Foundation
import LisCore
import TOMLKit

extension Scenario {
    /// The keys `scenario.toml` may have at its top level and in each `[[volume]]`.
    static let topLevelKeys = [
        "name", "topology", "regions", "nodes_per_region", "hive_region", "trace", "volume", "latency_change",
        "migration", "policy",
    ]
    static let volumeKeys = ["name", "size", "block_size", "home", "survive", "allowed_regions"]
    static let latencyChangeKeys = ["at_s", "region", "factor"]

    /// Volume sizes are whole 4 KiB pages: the sector size VMs and NBD clients assume.
    public static let volumeSizeGranuleBytes: UInt64 = 4096

    /// Reads the scenario file at `path` and the topology and trace files it names (paths
    /// relative to its directory), and checks them against each other.
    ///
    /// ```toml
    /// name = "sydney-student"       # optional; default: the file name without extension
    /// topology = "topology.toml"    # optional; default: DefaultTopology
    /// regions = ["nyc", "london", "sydney"]
    /// nodes_per_region = 1          # optional; default 1, at most maxNodesPerRegion
    /// hive_region = "nyc"
    /// trace = "trace.jsonl"
    /// [[volume]]                    # one or more
    /// name = "vm-100-disk-0"
    /// size = "1GiB"                 # bytes or a size string; a multiple of 4096
    /// block_size = "1MiB"           # optional, default 1MiB; a power of two, 64KiB...64MiB
    /// home = "nyc"
    /// survive = "node"              # optional; "node" (default) or "region"
    /// allowed_regions = ["nyc"]     # optional; must include home
    /// [[latency_change]]            # zero or more, in time order (non-decreasing at_s)
    /// at_s = 600                    # seconds from the start, ≥ 0 (integer or float)
    /// region = "nyc"                # one of regions
    /// factor = 5.0                  # > 0; see LatencyChange
    /// [migration]                   # optional; as in lis.toml
    /// [policy]                      # optional; as in lis.toml
    /// ```
    ///
    /// Every problem is reported with the file and the key or line at fault; unknown keys are
    /// errors, so a misspelt key cannot silently leave a default in place.
    public static func load(path: String) throws(ScenarioError) -> Scenario {
        let text = try readText(path, file: path, key: nil, what: "scenario file")
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ScenarioError(
                file: path, line: error.source.begin.line, message: "not valid TOML: \(error.description)")
        } catch {
            throw ScenarioError(file: path, message: "not valid TOML: \(error)")
        }
        let reader = TableReader(table: root, file: path, prefix: "")
        try reader.checkKeys(allowed: topLevelKeys)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()

        let fileStem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let name = try reader.string("name") ?? fileStem
        guard !name.isEmpty else { throw reader.error("name", "must not be empty") }

        let topologyTOML: String
        let topologyFile: String
        if let relative = try reader.string("topology") {
            topologyFile = resolve(relative, in: directory)
            topologyTOML = try readText(topologyFile, file: path, key: "topology", what: "topology file")
        } else {
            topologyFile = "(DefaultTopology)"
            topologyTOML = DefaultTopology.toml
        }
        let topology: Topology
        do {
            topology = try Topology.parse(toml: topologyTOML)
        } catch {
            throw ScenarioError(file: topologyFile, line: error.line, key: error.key, message: error.message)
        }

        let regions = try reader.required("regions", reader.stringArray).map(RegionID.init)
        guard !regions.isEmpty else { throw reader.error("regions", "must list at least one region") }
        if let repeated = firstRepeated(regions) {
            throw reader.error("regions", "lists \"\(repeated)\" more than once")
        }
        // A topology without links has no named regions: it serves any one region.
        if !topology.regions.isEmpty, let stranger = regions.first(where: { !topology.regions.contains($0) }) {
            throw reader.error(
                "regions",
                "\"\(stranger)\" is not in the topology \(topologyFile), which has "
                    + topology.regions.map(\.name).joined(separator: ", "))
        }
        do {
            try topology.validate(covering: regions)
        } catch {
            throw reader.error("regions", "the topology \(topologyFile): \(error.key ?? "") \(error.message)")
        }

        let nodesPerRegion = try reader.int("nodes_per_region") ?? 1
        guard (1...maxNodesPerRegion).contains(nodesPerRegion) else {
            throw reader.error("nodes_per_region", "must be in 1...\(maxNodesPerRegion), got \(nodesPerRegion)")
        }
        let hiveRegion = RegionID(try reader.required("hive_region", reader.string))
        try reader.check(hiveRegion, isIn: regions, key: "hive_region")

        let volumes = try parseVolumes(reader, regions: regions)
        let latencyChanges = try parseLatencyChanges(reader, regions: regions)

        var migration = MigrationConfig()
        var policy = PolicyConfig()
        let migrationTable = try reader.table("migration")
        let policyTable = try reader.table("policy")
        do {
            if let migrationTable { migration = try MigrationConfig.parse(migrationTable, path: "migration") }
            if let policyTable { policy = try PolicyConfig.parse(policyTable, path: "policy") }
        } catch {
            throw ScenarioError(file: path, line: error.line, key: error.key, message: error.message)
        }

        let traceFile = resolve(try reader.required("trace", reader.string), in: directory)
        let traceData: Data
        do {
            traceData = try Data(contentsOf: URL(fileURLWithPath: traceFile))
        } catch {
            throw reader.error("trace", "cannot read trace file \(traceFile)")
        }
        let trace = try TraceOp.parseJSONL(traceData, file: traceFile, regions: regions, volumes: volumes)

        return Scenario(
            name: name, topology: topology, topologyTOML: topologyTOML, regions: regions,
            nodesPerRegion: nodesPerRegion, hiveRegion: hiveRegion, volumes: volumes, migration: migration,
            policy: policy, trace: trace, latencyChanges: latencyChanges)
    }

    private static func parseLatencyChanges(
        _ reader: TableReader, regions: [RegionID]
    ) throws(ScenarioError) -> [LatencyChange] {
        let tables = try reader.tableArray("latency_change") ?? []
        var changes: [LatencyChange] = []
        for (index, table) in tables.enumerated() {
            let change = TableReader(table: table, file: reader.file, prefix: "latency_change[\(index)].")
            try change.checkKeys(allowed: latencyChangeKeys)

            let atS = try change.required("at_s", change.number)
            let maxTimeS = TraceOp.maxTimeMs / 1000
            guard atS >= 0, atS <= maxTimeS else {
                throw change.error("at_s", "must be from 0 to \(Int64(maxTimeS)) seconds, got \(atS)")
            }
            // Whole microseconds, as trace times are, so an export writes back the same value.
            let atMs = TraceOp.canonicalTimeMs(atS * 1000)
            if let previous = changes.last, atMs < previous.atMs {
                throw change.error(
                    "at_s",
                    "\(atS) is before the previous change's \(previous.atMs / 1000); list latency changes in "
                        + "time order (non-decreasing at_s)")
            }

            let region = RegionID(try change.required("region", change.string))
            try change.check(region, isIn: regions, key: "region")

            let factor = try change.required("factor", change.number)
            guard factor > 0 else {
                throw change.error("factor", "must be > 0 (RTTs are multiplied by it), got \(factor)")
            }
            changes.append(LatencyChange(atMs: atMs, region: region, factor: factor))
        }
        return changes
    }

    private static func parseVolumes(_ reader: TableReader, regions: [RegionID]) throws(ScenarioError) -> [VolumeSpec] {
        let tables = try reader.required("volume", reader.tableArray)
        guard !tables.isEmpty else { throw reader.error("volume", "must have at least one [[volume]]") }
        var volumes: [VolumeSpec] = []
        for (index, table) in tables.enumerated() {
            let volume = TableReader(table: table, file: reader.file, prefix: "volume[\(index)].")
            try volume.checkKeys(allowed: volumeKeys)

            let nameText = try volume.required("name", volume.string)
            if let problem = VolumeName.problem(with: nameText) { throw volume.error("name", problem) }
            let name = VolumeName(nameText)
            if volumes.contains(where: { $0.name == name }) {
                throw volume.error("name", "\"\(name)\" is already the name of an earlier volume")
            }

            let sizeBytes = try volume.required("size", volume.byteSize)
            guard sizeBytes > 0, sizeBytes % volumeSizeGranuleBytes == 0 else {
                throw volume.error(
                    "size", "must be a positive multiple of \(volumeSizeGranuleBytes) bytes, got \(sizeBytes)")
            }
            let blockSizeBytes = try volume.byteSize("block_size") ?? VolumeDefaults().blockSizeBytes
            let blockSizes = VolumeSpec.minBlockSizeBytes...VolumeSpec.maxBlockSizeBytes
            guard blockSizeBytes.nonzeroBitCount == 1, blockSizes.contains(blockSizeBytes) else {
                throw volume.error(
                    "block_size",
                    "must be a power of two from \(ByteSize.format(blockSizes.lowerBound)) to "
                        + "\(ByteSize.format(blockSizes.upperBound)), got \(blockSizeBytes)")
            }

            let home = RegionID(try volume.required("home", volume.string))
            try volume.check(home, isIn: regions, key: "home")

            var survive = Survival.node
            if let text = try volume.string("survive") {
                guard let value = Survival(rawValue: text) else {
                    let choices = Survival.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                    throw volume.error("survive", "must be one of \(choices), got \"\(text)\"")
                }
                survive = value
            }

            var allowedRegions: [RegionID]?
            if let names = try volume.stringArray("allowed_regions") {
                let allowed = names.map(RegionID.init)
                for region in allowed { try volume.check(region, isIn: regions, key: "allowed_regions") }
                if let repeated = firstRepeated(allowed) {
                    throw volume.error("allowed_regions", "lists \"\(repeated)\" more than once")
                }
                guard allowed.contains(home) else {
                    throw volume.error("allowed_regions", "must include the volume's home \"\(home)\"")
                }
                allowedRegions = allowed
            }

            volumes.append(
                VolumeSpec(
                    name: name, sizeBytes: sizeBytes, blockSizeBytes: blockSizeBytes, home: home, survive: survive,
                    allowedRegions: allowedRegions))
        }
        return volumes
    }

    /// `relative` resolved against the scenario file's directory (absolute paths stay as they are).
    private static func resolve(_ relative: String, in directory: URL) -> String {
        URL(fileURLWithPath: relative, relativeTo: directory).standardizedFileURL.path
    }

    private static func readText(
        _ path: String, file: String, key: String?, what: String
    ) throws(ScenarioError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ScenarioError(file: file, key: key, message: "cannot read \(what) \(path)")
        }
    }

    private static func firstRepeated(_ regions: [RegionID]) -> RegionID? {
        var seen: Set<RegionID> = []
        return regions.first { !seen.insert($0).inserted }
    }
}

/// Typed reads from one TOML table, with errors that name the key by its full dotted path.
private struct TableReader {
    let table: TOMLTable
    let file: String
    /// Put before every key in errors: `""` at the top level, `"volume[2]."` in a volume.
    let prefix: String

    func error(_ key: String, _ message: String) -> ScenarioError {
        ScenarioError(file: file, key: prefix + key, message: message)
    }

    /// Refuses the first unknown key, in sorted order so the report does not depend on the
    /// table's internal order.
    func checkKeys(allowed: [String]) throws(ScenarioError) {
        if let unknown = table.keys.filter({ !allowed.contains($0) }).sorted().first {
            throw error(unknown, "unknown key; expected one of \(allowed.joined(separator: ", "))")
        }
    }

    func required<T>(_ key: String, _ read: (String) throws(ScenarioError) -> T?) throws(ScenarioError) -> T {
        guard let value = try read(key) else { throw error(key, "missing (required)") }
        return value
    }

    func string(_ key: String) throws(ScenarioError) -> String? {
        guard let value = table[key] else { return nil }
        guard let text = value.string else { throw error(key, "must be a string") }
        return text
    }

    func int(_ key: String) throws(ScenarioError) -> Int? {
        guard let value = table[key] else { return nil }
        guard let number = value.int else { throw error(key, "must be an integer") }
        return number
    }

    /// A finite number written as a TOML integer or float (`600` and `600.0` mean the same).
    func number(_ key: String) throws(ScenarioError) -> Double? {
        guard let value = table[key] else { return nil }
        guard let number = value.double ?? value.int.map(Double.init), number.isFinite else {
            throw error(key, "must be a number")
        }
        return number
    }

    func stringArray(_ key: String) throws(ScenarioError) -> [String]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw error(key, "must be an array of strings") }
        var texts: [String] = []
        for element in array {
            guard let text = element.string else { throw error(key, "must be an array of strings") }
            texts.append(text)
        }
        return texts
    }

    func table(_ key: String) throws(ScenarioError) -> TOMLTable? {
        guard let value = table[key] else { return nil }
        guard let inner = value.table else { throw error(key, "must be a table ([\(prefix + key)])") }
        return inner
    }

    func tableArray(_ key: String) throws(ScenarioError) -> [TOMLTable]? {
        guard let value = table[key] else { return nil }
        let message = "must be an array of tables ([[\(prefix + key)]])"
        guard let array = value.array else { throw error(key, message) }
        var tables: [TOMLTable] = []
        for element in array {
            guard let inner = element.table else { throw error(key, message) }
            tables.append(inner)
        }
        return tables
    }

    /// A size given as an integer number of bytes or as a size string (`"1GiB"`).
    func byteSize(_ key: String) throws(ScenarioError) -> UInt64? {
        guard let value = table[key] else { return nil }
        if let bytes = value.int {
            guard bytes >= 0 else { throw error(key, "must not be negative, got \(bytes)") }
            return UInt64(bytes)
        }
        guard let text = value.string else {
            throw error(key, "must be an integer number of bytes or a size string such as \"1GiB\"")
        }
        do {
            return try ByteSize.parse(text)
        } catch {
            throw self.error(key, error.description)
        }
    }

    func check(_ region: RegionID, isIn regions: [RegionID], key: String) throws(ScenarioError) {
        guard regions.contains(region) else {
            throw error(
                key,
                "\"\(region)\" is not one of the scenario's regions (\(regions.map(\.name).joined(separator: ", ")))")
        }
    }
}
