import ArgumentParser
import Foundation
import LisCheck

/// `lis check`: linearizability of recorded histories (LisCheck: Wing & Gong's search with
/// Lowe's memoization, per key by P-compositionality).
///
/// Exit status: 0 when every file is linearizable, 1 when any is not, 2 when some could not be
/// decided within the bounds (and none is non-linearizable), 3 when a file cannot be read or
/// parsed (and none is non-linearizable).
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check recorded histories for linearizability.",
        discussion: """
            Exit status: 0 all linearizable, 1 some history is not linearizable, 2 some history is \
            undecided within --max-steps/--timeout (and none is non-linearizable), 3 some file \
            cannot be read or parsed (and none is non-linearizable).
            """,
        subcommands: [CheckJepsen.self, CheckHistory.self]
    )
}

/// The bounds shared by the `check` subcommands.
struct CheckBoundOptions: ParsableArguments {
    @Option(name: .long, help: "Search steps allowed per partition; hitting it gives 'unknown', never a wrong verdict.")
    var maxSteps: Int = CheckLimits.default.maxSteps

    @Option(name: .long, help: "Seconds allowed per file; when they pass the file is 'unknown'.")
    var timeout: Double?

    func validate() throws {
        guard maxSteps >= 0 else { throw ValidationError("--max-steps must be ≥ 0, got \(maxSteps)") }
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout must be > 0 seconds, got \(timeout)") }
    }

    /// The limits for one file; the deadline starts now.
    func limits() -> CheckLimits {
        var limits = CheckLimits(maxSteps: maxSteps)
        if let timeout {
            let deadline = ContinuousClock.now + .milliseconds(Int64((timeout * 1000).rounded(.up)))
            limits.isPastDeadline = { ContinuousClock.now >= deadline }
        }
        return limits
    }
}

/// The worst outcome over several files, as the exit status.
struct CheckTally {
    private(set) var notLinearizable = 0
    private(set) var unknown = 0
    private(set) var unreadable = 0

    mutating func record(_ verdict: Verdict) {
        switch verdict {
        case .linearizable: break
        case .notLinearizable: notLinearizable += 1
        case .unknown: unknown += 1
        }
    }

    mutating func recordUnreadable() { unreadable += 1 }

    /// Throws the exit code for anything but "all linearizable".
    func finish() throws {
        if notLinearizable > 0 { throw ExitCode(1) }
        if unreadable > 0 { throw ExitCode(3) }
        if unknown > 0 { throw ExitCode(2) }
    }
}

/// Reads a file as UTF-8, with an error a user can act on.
func readHistoryFile(_ path: String) throws -> String {
    do {
        return try String(contentsOfFile: path, encoding: .utf8)
    } catch {
        throw ValidationError("cannot read \(path): \(error.localizedDescription)")
    }
}

/// Prints a multi-line explanation indented under its file's line.
func printIndented(_ text: String) {
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) { print("    \(line)") }
}

struct CheckJepsen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jepsen",
        abstract: "Check Jepsen cas-register histories (jepsen.util log lines).",
        discussion: """
            Prints 'FILE linearizable', 'FILE not-linearizable' or 'FILE unknown (reason)' per file. \
            The reading of :ok, :fail and :info lines is that of the reference verdicts in \
            testdata/jepsen-etcd/README.md.
            """
    )

    @Argument(help: "Jepsen history files.")
    var files: [String]

    @OptionGroup var bounds: CheckBoundOptions

    @Flag(name: .long, help: "Explain each non-linearizable verdict (longest linearizable prefix, the operation that cannot be placed).")
    var explain = false

    func run() throws {
        var tally = CheckTally()
        for file in files {
            let history: [RegisterOperation]
            do {
                history = try JepsenHistory.parse(try readHistoryFile(file))
            } catch {
                print("\(file) error (\(error))")
                tally.recordUnreadable()
                continue
            }
            let verdict = LinearizabilityChecker.check(model: RegisterModel(), history: history, limits: bounds.limits())
            tally.record(verdict)
            switch verdict {
            case .linearizable, .notLinearizable:
                print("\(file) \(verdict.label)")
                if explain, case .notLinearizable(_, let explanation) = verdict { printIndented(explanation) }
            case .unknown(let reason):
                print("\(file) unknown (\(reason))")
            }
        }
        try tally.finish()
    }
}

struct CheckHistory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Check Lis client histories (JSON lines, one register per block).",
        discussion: """
            Each line is one event: {"process": "c1", "type": "invoke", "op": "write", "volume": \
            "vm1", "block": 7, "value": 42}; "type" is invoke, ok, fail (did not happen) or info \
            (outcome unknown); a read's ok carries the version it saw ("value", 0 or null when \
            never written). See LisHistory in Sources/LisCheck/LisHistory.swift for every rule. \
            Prints 'FILE: N operations, P partitions, S search steps: VERDICT' and, when not \
            linearizable, the block and the operations that cannot be ordered.
            """
    )

    @Argument(help: "Lis history files (JSON lines).")
    var files: [String]

    @OptionGroup var bounds: CheckBoundOptions

    func run() throws {
        var tally = CheckTally()
        for file in files {
            let history: [LisCheck.BlockOperation]
            do {
                history = try LisHistory.parse(try readHistoryFile(file))
            } catch {
                print("\(file): error (\(error))")
                tally.recordUnreadable()
                continue
            }
            let result = LinearizabilityChecker.run(model: BlockModel(), history: history, limits: bounds.limits())
            tally.record(result.verdict)
            let summary = "\(file): \(result.operationCount) operations, \(result.partitionCount) partitions, \(result.steps) search steps"
            switch result.verdict {
            case .linearizable:
                print("\(summary): linearizable")
            case .notLinearizable(_, let explanation):
                print("\(summary): not-linearizable")
                printIndented(explanation)
            case .unknown(let reason):
                print("\(summary): unknown (\(reason))")
            }
        }
        try tally.finish()
    }
}
