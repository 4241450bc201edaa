import Foundation
import LisCore

extension Scenario {
    /// The file names `export(to:)` writes.
    static let scenarioFileName = "scenario.toml"
    static let topologyFileName = "topology.toml"
    static let traceFileName = "trace.jsonl"

    /// Writes this scenario as a directory that `load(path:)` reads back to an equal scenario:
    /// `scenario.toml`, `topology.toml` (the topology text, unchanged) and `trace.jsonl`.
    /// Creates `directory` if needed and replaces those three files if they exist. The output
    /// depends only on the scenario, so exporting twice gives identical bytes.
    public func export(to directory: String) throws(ScenarioError) {
        let directoryURL = URL(fileURLWithPath: directory, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: directoryURL, withIntermediateDirectories: true)
        } catch {
            throw ScenarioError(file: directory, message: "cannot create the directory: \(error.localizedDescription)")
        }
        let traceText = try traceJSONL()
        try Self.write(topologyTOML, to: directoryURL.appendingPathComponent(Self.topologyFileName))
        try Self.write(traceText, to: directoryURL.appendingPathComponent(Self.traceFileName))
        try Self.write(scenarioTOML, to: directoryURL.appendingPathComponent(Self.scenarioFileName))
    }

    /// The text of `scenario.toml`, written by hand so that its layout is the documented one
    /// and sizes read as sizes (`"1GiB"`), not byte counts.
    var scenarioTOML: String {
        var lines: [String] = [
            "name = \(quoted(name))",
            "topology = \(quoted(Self.topologyFileName))",
            "regions = \(quoted(regions.map(\.name)))",
            "nodes_per_region = \(nodesPerRegion)",
            "hive_region = \(quoted(hiveRegion.name))",
            "trace = \(quoted(Self.traceFileName))",
        ]
        for volume in volumes {
            lines += [
                "",
                "[[volume]]",
                "name = \(quoted(volume.name.name))",
                "size = \(quoted(ByteSize.format(volume.sizeBytes)))",
                "block_size = \(quoted(ByteSize.format(volume.blockSizeBytes)))",
                "home = \(quoted(volume.home.name))",
                "survive = \(quoted(volume.survive.rawValue))",
            ]
            if let allowed = volume.allowedRegions {
                lines.append("allowed_regions = \(quoted(allowed.map(\.name)))")
            }
        }
        lines += [
            "",
            "[migration]",
            "min_latency_factor = \(migration.minLatencyFactor)",
            "slow_write_threshold = \(migration.slowWriteThreshold)",
            "migration_cooldown_ms = \(migration.migrationCooldownMs)",
            "max_concurrent_migrations = \(migration.maxConcurrentMigrations)",
            "predictive_migration = \(migration.predictiveMigration)",
        ]
        for tier in migration.explicitTiers ?? [] {
            lines += ["", "[[migration.tier]]", "min_factor = \(tier.minFactor)", "slow_writes = \(tier.slowWrites)"]
        }
        lines += [
            "",
            "[policy]",
            "name = \(quoted(policy.name.rawValue))",
            "local_latency_floor_ms = \(policy.localLatencyFloorMs)",
            "slow_write_window_ms = \(policy.slowWriteWindowMs)",
        ]
        // Doubles print as Swift's shortest round-trip form (`2.0`, `0.05`, `1e-05`), which is
        // also a TOML float, so every value reads back exactly.
        return lines.joined(separator: "\n") + "\n"
    }

    /// The text of `trace.jsonl`, one operation per line.
    func traceJSONL() throws(ScenarioError) -> String {
        var text = ""
        text.reserveCapacity(trace.count * 140)
        for (index, op) in trace.enumerated() {
            // Checked here because formatting a time takes its microseconds as an Int64.
            guard (0...TraceOp.maxTimeMs).contains(op.tMs) else {
                throw ScenarioError(
                    file: Self.traceFileName, line: index + 1, key: "t_ms",
                    message: "must be from 0 to \(Int64(TraceOp.maxTimeMs)) ms, got \(op.tMs)")
            }
            text += op.jsonLine
            text += "\n"
        }
        return text
    }

    private static func write(_ text: String, to url: URL) throws(ScenarioError) {
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw ScenarioError(file: url.path, message: "cannot write: \(error.localizedDescription)")
        }
    }
}

/// A TOML basic string. TOML's escapes for quotes, backslashes and control characters are the
/// same as JSON's, so the trace's escaping serves both.
private func quoted(_ text: String) -> String { TraceOp.jsonString(text) }

/// A TOML array of basic strings on one line.
private func quoted(_ texts: [String]) -> String { "[" + texts.map(quoted).joined(separator: ", ") + "]" }
