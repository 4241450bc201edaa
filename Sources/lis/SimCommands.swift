import ArgumentParser
import Foundation
import LisCore
import LisSim

struct SimRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Simulate a scenario and report latencies, moves and safety checks.",
        discussion: """
            Runs every node of the scenario's cluster with the real LisCore protocol on one thread \
            and a virtual clock. The same scenario and seed give the same event trace (see the \
            digest). Scenario files are described in docs/SIMULATION.md; `lis sim list` shows the \
            built-in scenarios.
            """
    )

    @Option(name: .long, help: "A built-in scenario (see `lis sim list`).")
    var scenario: String?

    @Option(name: .customLong("scenario-file"), help: "A scenario TOML file (docs/SIMULATION.md).")
    var scenarioFile: String?

    @Option(name: .long, help: "Seed for the trace generator (built-in scenarios), jitter and disk timings.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Migration policy: \(PolicyName.allCases.map(\.rawValue).joined(separator: ", ")). Default: the scenario's.")
    var policy: String?

    @Flag(name: .long, help: "Print exactly one JSON object instead of the summary.")
    var json = false

    @Option(name: .long, help: "Write the event trace (one line per event, the lines the digest covers) to FILE.")
    var trace: String?

    func validate() throws {
        if (scenario == nil) == (scenarioFile == nil) {
            throw ValidationError("give exactly one of --scenario NAME or --scenario-file FILE")
        }
        if let policy, PolicyName(rawValue: policy) == nil {
            throw ValidationError("unknown policy '\(policy)'; known: \(PolicyName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        var loaded = try loadScenario(name: scenario, file: scenarioFile, seed: seed)
        if let policy { loaded.policy.name = PolicyName(rawValue: policy)! }
        let simulation = Simulation(scenario: loaded, seed: seed)
        var traceFile: UnsafeMutablePointer<FILE>?
        if let trace {
            guard let file = fopen(trace, "w") else { throw ValidationError("cannot write the trace to \(trace)") }
            traceFile = file
            simulation.traceSink = { line in
                fputs(line, file)
                fputc(0x0A, file)
            }
        }
        let report = simulation.run()
        if let traceFile { fclose(traceFile) }
        print(json ? report.json() : report.summary(), terminator: json ? "\n" : "")
        if !report.violations.isEmpty { throw ExitCode(2) }
    }
}

struct SimExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a built-in scenario as files (scenario.toml, trace.jsonl, topology.toml).",
        discussion: "The files can be edited and replayed with `lis sim run --scenario-file DIR/scenario.toml`."
    )

    @Argument(help: "The built-in scenario (see `lis sim list`).")
    var name: String

    @Argument(help: "The directory to write into (created if missing).")
    var directory: String

    @Option(name: .long, help: "Seed for the trace generator.")
    var seed: UInt64 = 1

    func run() throws {
        let scenario = try loadScenario(name: name, file: nil, seed: seed)
        do {
            try scenario.export(to: directory)
        } catch {
            throw ValidationError("\(error)")
        }
        print("wrote \(directory)/scenario.toml, trace.jsonl (\(scenario.trace.count) operations) and topology.toml")
    }
}

struct SimList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the built-in scenarios.")
    func run() {
        for name in Scenario.builtInNames { print(name) }
    }
}

func loadScenario(name: String?, file: String?, seed: UInt64) throws -> Scenario {
    if let name {
        guard let scenario = Scenario.builtIn(name, seed: seed) else {
            throw ValidationError("unknown scenario '\(name)'; built in: \(Scenario.builtInNames.joined(separator: ", "))")
        }
        return scenario
    }
    do {
        return try Scenario.load(path: file!)
    } catch {
        throw ValidationError("\(error)")
    }
}
