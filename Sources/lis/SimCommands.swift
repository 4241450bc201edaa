import ArgumentParser
import Foundation
@_spi(Simulation) import LisCore
import LisSim

struct SimRun: AsyncParsableCommand {
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

    @Option(name: .long, help: "Migration policy: \(PolicyName.known). Default: the scenario's.")
    var policy: String?

    @Flag(name: .long, help: "Print exactly one JSON object instead of the summary.")
    var json = false

    @Option(name: .long, help: "Write the event trace (one line per event, the lines the digest covers) to FILE.")
    var trace: String?

    @Option(name: .long, help: ArgumentHelp(
        "Print the decision records of one block: every move, steal and declined candidate, with the numbers.",
        valueName: "VOLUME:BLOCK"))
    var explain: String?

    @Option(name: .long, help: ArgumentHelp(
        "Serve the dashboard of the run on HOST:PORT (loopback) while it plays against a virtual clock, and on after it ends until Ctrl-C.",
        valueName: "HOST:PORT"))
    var serve: String?

    @Option(name: .long, help: "With --serve: virtual milliseconds per wall millisecond at the start (1–100000; default: the run plays in about two minutes). The page can change it.")
    var speed: Double?

    /// `--explain`'s block.
    var explainKey: BlockKey? {
        guard let explain, let colon = explain.lastIndex(of: ":"), let block = UInt64(explain[explain.index(after: colon)...]),
            colon != explain.startIndex
        else { return nil }
        return BlockKey(VolumeName(String(explain[..<colon])), BlockID(block))
    }

    func validate() throws {
        if (scenario == nil) == (scenarioFile == nil) {
            throw ValidationError("give exactly one of --scenario NAME or --scenario-file FILE")
        }
        if explain != nil && explainKey == nil {
            throw ValidationError("--explain takes VOLUME:BLOCK (a block number), e.g. workspace:3; got '\(explain!)'")
        }
        if let policy { _ = try PolicyName.named(policy) }
        if let speed, !(1...100_000).contains(speed) { throw ValidationError("--speed must be from 1 to 100000, got \(speed)") }
        if speed != nil && serve == nil { throw ValidationError("--speed paces a served run: give --serve HOST:PORT too") }
        if serve != nil && trace != nil { throw ValidationError("--trace writes a whole run at once; leave it out with --serve") }
    }

    func run() async throws {
        var loaded = try loadScenario(name: scenario, file: scenarioFile, seed: seed)
        if let policy { loaded.policy.name = try PolicyName.named(policy) }
        if let key = explainKey {
            guard let volume = loaded.volumes.first(where: { $0.name == key.volume }) else {
                throw ValidationError("--explain: the scenario has no volume '\(key.volume)'; it has \(loaded.volumes.map(\.name.name).joined(separator: ", "))")
            }
            guard key.block.index < volume.blockCount else {
                throw ValidationError("--explain: volume '\(key.volume)' has blocks 0–\(volume.blockCount - 1)")
            }
        }
        let simulation = Simulation(scenario: loaded, seed: seed)
        simulation.explainKey = explainKey
        if let serve {
            try await self.serve(simulation, address: serve)
            return
        }
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
        if let key = explainKey, !json { print(report.explained(key)) }
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

struct SimSwarm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swarm",
        abstract: "Run many seeds, each with its own cluster, contended workload and faults, and check every one.",
        discussion: """
            Each seed draws 2–5 regions, 1–3 nodes per region, Hive's region, volumes and 2–5 \
            clients that read, write and flush a few shared blocks for 8 simulated seconds, with \
            an eager policy so that steals are frequent and race with writes, and a fault plan \
            (message loss, duplication, reordering and delay spikes, partitions, swizzle-clogs, \
            crashes that lose or tear unsynced writes, clock drift and jumps, Hive outages, a \
            region down). At 8 s everything heals; a liveness phase then writes and reads every \
            block the workload touched. Safety checks: one holder per block per epoch, acceptors \
            never store below their promise, every acknowledged write present after every steal \
            (unless a crash lost it before a flush), every flushed write survives, HLC never goes \
            back, each block's history linearizable. Liveness checks, \(Int(Swarm.livenessBoundMs / 1000)) s \
            after heal: every operation answered and every probe succeeded, every block served by \
            its holder, copies converged. Every failing seed prints the command that replays it.
            """
    )

    @Option(name: .long, help: "How many seeds to run.")
    var seeds: UInt64 = 100

    @Option(name: .long, help: "The first seed.")
    var start: UInt64 = 1

    @Option(name: .long, help: "Switch off one protection in the core (\(CoreMutant.allCases.map(\.rawValue).joined(separator: ", "))) to show the checkers catch it.")
    var mutant: String?

    @Flag(name: .customLong("no-faults"), help: "Inject no faults: a perfect network, perfect disks and clocks (for bisecting).")
    var noFaults = false

    @Option(name: .long, help: "Run the seeds under this migration policy (\(PolicyName.known)) instead of the swarm's eager tiers.")
    var policy: String?

    @Flag(name: .long, help: "Print exactly one JSON object.")
    var json = false

    @Flag(name: .long, help: "Print every seed's result and fault plan.")
    var verbose = false

    @Option(name: .long, help: "With --seeds 1: write the seed's event trace to FILE.")
    var trace: String?

    @Option(name: .long, help: "With --seeds 1: write the client history the linearizability check judged to FILE (the format of `lis check history`).")
    var history: String?

    func validate() throws {
        if let mutant, CoreMutant(rawValue: mutant) == nil {
            throw ValidationError("unknown mutant '\(mutant)'; known: \(CoreMutant.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard seeds > 0 else { throw ValidationError("--seeds must be at least 1") }
        if let policy { _ = try PolicyName.named(policy) }
        if (trace != nil || history != nil) && seeds != 1 {
            throw ValidationError("--trace and --history write one seed's run: give --seeds 1")
        }
    }

    func run() throws {
        let mutant = self.mutant.flatMap(CoreMutant.init(rawValue:))
        let policyName = try policy.map(PolicyName.named)
        var failed: [UInt64] = []
        var violations = 0
        var liveness = 0
        var opsChecked = 0
        var steals = 0
        var tainted = 0
        var unknown = 0
        var faults: [FaultKind: Int] = [:]
        var failedChecks: [LivenessCheck: Int] = [:]
        let flags = (self.mutant.map { " --mutant \($0)" } ?? "") + (noFaults ? " --no-faults" : "") + (policy.map { " --policy \($0)" } ?? "")
        let started = Date()
        for seed in start..<(start + seeds) {
            var lines: [String] = []
            let result = Swarm.run(
                seed: seed, mutant: mutant, faults: !noFaults, policy: policyName,
                traceSink: trace == nil ? nil : { lines.append($0) })
            if let trace { try (lines.joined(separator: "\n") + "\n").write(toFile: trace, atomically: true, encoding: .utf8) }
            if let history {
                try (result.history.map(\.jsonLine).joined(separator: "\n") + "\n").write(toFile: history, atomically: true, encoding: .utf8)
            }
            violations += result.violations.count
            liveness += result.livenessFailures.isEmpty ? 0 : 1
            opsChecked += result.opsChecked
            steals += result.steals
            tainted += result.taintedBlocks
            if result.linearizability.hasPrefix("unknown") { unknown += 1 }
            for (kind, n) in result.faults { faults[kind, default: 0] += n }
            for check in result.livenessFailuresByCheck.keys { failedChecks[check, default: 0] += 1 }
            let bad = !result.violations.isEmpty || !result.livenessFailures.isEmpty
            if bad { failed.append(seed) }
            if verbose || (bad && !json) {
                var out: [String] = []
                let injected = FaultKind.allCases.compactMap { kind in result.faults[kind].map { "\(kind.rawValue) \($0)" } }
                out.append(
                    "seed \(seed): \(result.steals) steals, \(result.opsChecked) checks, \(result.linearizability)"
                        + (result.unfinishedOps > 0 ? ", \(result.unfinishedOps) operations unanswered" : "")
                        + (result.taintedBlocks > 0 ? ", \(result.taintedBlocks) blocks tainted by crashes" : "")
                        + (injected.isEmpty ? "" : "; faults: \(injected.joined(separator: ", "))"))
                if verbose { out += result.plan.map { "  FAULT \($0)" } }
                out += result.violations.prefix(5).map { "  VIOLATION \($0)" }
                out += result.livenessFailures.prefix(8).map { "  LIVENESS \($0)" }
                if result.livenessFailures.count > 8 { out.append("  LIVENESS … \(result.livenessFailures.count - 8) more") }
                if bad { out.append("  replay: lis sim swarm --start \(seed) --seeds 1 --verbose\(flags)") }
                let text = out.joined(separator: "\n") + "\n"
                if json {
                    FileHandle.standardError.write(Data(text.utf8))
                } else {
                    print(text, terminator: "")
                }
            }
        }
        let wall = Date().timeIntervalSince(started)
        if json {
            let doc: JSON = .object([
                ("seeds", .int(Int64(seeds))),
                ("start", .int(Int64(start))),
                ("mutant", self.mutant.map { .string($0) } ?? .null),
                ("policy", .string(policy ?? "tiers")),
                ("violations", .int(Int64(violations))),
                ("liveness_failures", .int(Int64(liveness))),
                ("failed_seeds", .array(failed.map { .int(Int64($0)) })),
                ("ops_checked", .int(Int64(opsChecked))),
                ("steals", .int(Int64(steals))),
                ("faults", .object(FaultKind.allCases.map { ($0.rawValue, .int(Int64(faults[$0] ?? 0))) })),
                ("tainted_blocks", .int(Int64(tainted))),
                ("unknown_linearizability", .int(Int64(unknown))),
                ("wall_seconds", .number((wall * 1000).rounded() / 1000)),
            ])
            print(doc.rendered)
        } else {
            let injected = FaultKind.allCases.reduce(0) { $0 + (faults[$1] ?? 0) }
            print(
                "\(seeds) seeds from \(start): \(violations) violations, \(liveness) liveness failures, \(steals) steals, "
                    + "\(opsChecked) checks, \(injected) faults, \(tainted) tainted blocks, "
                    + "\(unknown) seeds with a block the linearizability search gave up on, \(String(format: "%.1f", wall)) s")
            let checks = LivenessCheck.allCases.compactMap { check in failedChecks[check].map { "\(check.rawValue) \($0)" } }
            if !checks.isEmpty { print("liveness checks failed (seeds): \(checks.joined(separator: ", "))") }
            if let first = failed.first {
                print("failed seeds: \(failed.prefix(20).map(String.init).joined(separator: " "))\(failed.count > 20 ? " …" : "")")
                print("replay the first: lis sim swarm --start \(first) --seeds 1 --verbose\(flags)")
            }
        }
        if !failed.isEmpty && mutant == nil { throw ExitCode(2) }
    }
}

extension PolicyName {
    /// The policy names, for help texts and errors.
    static let known = allCases.map(\.rawValue).joined(separator: ", ")

    /// The policy called `name`, or an error that lists the known ones.
    static func named(_ name: String) throws -> PolicyName {
        guard let policy = PolicyName(rawValue: name) else {
            throw ValidationError("unknown policy '\(name)'; known: \(known)")
        }
        return policy
    }
}
