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
        try checkLatencyChanges()
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
        for change in latencyChanges {
            lines += [
                "",
                "[[latency_change]]",
                "at_s = \(change.atMs / 1000)",
                "region = \(quoted(change.region.name))",
                "factor = \(change.factor)",
            ]
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

    /// Refuses a change that `load(path:)` would refuse, so an export never writes a file that
    /// cannot be read back (a non-finite factor would not even be valid TOML).
    func checkLatencyChanges() throws(ScenarioError) {
        for (index, change) in latencyChanges.enumerated() {
            let key = "latency_change[\(index)]"
            guard (0...TraceOp.maxTimeMs).contains(change.atMs) else {
                throw ScenarioError(
                    file: Self.scenarioFileName, key: key + ".at_s",
                    message: "must be from 0 to \(Int64(TraceOp.maxTimeMs)) ms, got \(change.atMs)")
            }
            if index > 0, change.atMs < latencyChanges[index - 1].atMs {
                throw ScenarioError(
                    file: Self.scenarioFileName, key: key + ".at_s", message: "latency changes must be in time order")
            }
            guard regions.contains(change.region) else {
                throw ScenarioError(
                    file: Self.scenarioFileName, key: key + ".region",
                    message: "\"\(change.region)\" is not one of the scenario's regions")
            }
            guard change.factor > 0, change.factor.isFinite else {
                throw ScenarioError(
                    file: Self.scenarioFileName, key: key + ".factor", message: "must be > 0, got \(change.factor)")
            }
        }
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
