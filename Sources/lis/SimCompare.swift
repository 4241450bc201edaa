import ArgumentParser
import Foundation
import LisCore
import LisSim

/// `lis sim compare`: every scenario under every policy, same seed, side by side.
struct SimCompare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Run scenarios under several policies with the same seed and print the matrix.",
        discussion: """
            Each scenario runs once per policy with the same seed, so the workload, jitter and \
            disk timings are identical and only the policy differs. Columns: mean, p50 and p99 \
            write latency and mean read latency over all regions (ms), the fraction of writes \
            served by a holder in the writer's region, moves, moves per touched block per hour, \
            bytes transferred by moves, moves into a region the volume does not allow, and, for \
            scenarios whose regions work in sessions (days), the share of each region's first \
            writes to a block in its last session that were local. `oracle` is the offline \
            bound (it knows the whole trace). Progress goes to standard error. docs/POLICY.md \
            explains the policies.
            """
    )

    @Option(name: .long, help: "Comma-separated built-in scenarios, or 'all' (default: all, or none when --scenario-file is given).")
    var scenarios: String?

    @Option(name: .customLong("scenario-file"), parsing: .upToNextOption, help: "Scenario TOML files to compare as well.")
    var scenarioFiles: [String] = []

    @Option(name: .long, help: "Comma-separated policies (\(PolicyName.known)), or 'all'.")
    var policies: String = "all"

    @Option(name: .long, help: "Seed for the trace generators, jitter and disk timings.")
    var seed: UInt64 = 1

    @Flag(name: .long, help: "Print exactly one JSON object: {\"results\": [...]}.")
    var json = false

    @Flag(name: .long, help: "Print a Markdown table.")
    var markdown = false

    @Option(name: .long, help: ArgumentHelp(
        "Also draw, per scenario, each policy's write latency over time and a block × time map of holder regions, as SVG files in DIR.",
        valueName: "DIR"))
    var svg: String?

    func validate() throws {
        if json && markdown { throw ValidationError("give at most one of --json and --markdown") }
        _ = try policyList()
        _ = try scenarioNames()
    }

    func policyList() throws -> [PolicyName] {
        if policies == "all" { return PolicyName.allCases }
        return try policies.split(separator: ",").map { try PolicyName.named(String($0)) }
    }

    func scenarioNames() throws -> [String] {
        guard let scenarios else { return scenarioFiles.isEmpty ? Scenario.builtInNames : [] }
        if scenarios == "all" { return Scenario.builtInNames }
        return try scenarios.split(separator: ",").map { name in
            guard Scenario.builtInNames.contains(String(name)) else {
                throw ValidationError("unknown scenario '\(name)'; built in: \(Scenario.builtInNames.joined(separator: ", "))")
            }
            return String(name)
        }
    }

    func run() throws {
        var loaded = try scenarioNames().map { try loadScenario(name: $0, file: nil, seed: seed) }
        loaded += try scenarioFiles.map { try loadScenario(name: nil, file: $0, seed: seed) }
        let policies = try policyList()
        var results: [PolicyResult] = []
        if let svg {
            do {
                try FileManager.default.createDirectory(atPath: svg, withIntermediateDirectories: true)
            } catch {
                throw ValidationError("cannot create the SVG directory \(svg): \(error.localizedDescription)")
            }
        }
        for scenario in loaded {
            var runs: [(policy: String, report: SimReport)] = []
            defer {
                if let svg {
                    for (name, text) in ComparisonSVG(scenario: scenario, runs: runs).files() {
                        let path = (svg as NSString).appendingPathComponent(name)
                        if !FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) {
                            FileHandle.standardError.write(Data("cannot write \(path)\n".utf8))
                        }
                    }
                }
            }
            for policy in policies {
                var variant = scenario
                variant.policy.name = policy
                let started = Date()
                let report = Simulation(scenario: variant, seed: seed).run()
                let result = PolicyResult(scenario: variant, report: report)
                FileHandle.standardError.write(Data(String(
                    format: "%@ × %@: mean write %.3f ms, %d moves (%.1f s)\n", variant.name, policy.rawValue,
                    result.meanWriteMs, result.moves, Date().timeIntervalSince(started)).utf8))
                results.append(result)
                if svg != nil { runs.append((policy.rawValue, report)) }
            }
        }
        if json {
            print(JSON.object([("seed", .int(Int64(seed))), ("results", .array(results.map(\.json)))]).rendered)
        } else {
            print(PolicyResult.markdown(results), terminator: "")
        }
        if results.contains(where: { $0.safetyViolations > 0 || $0.pinningViolations > 0 }) { throw ExitCode(2) }
    }
}
