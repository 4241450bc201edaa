import LisCore

/// One cell of `lis sim compare`: a scenario run under one policy, reduced to the numbers the
/// policies are judged by (docs/POLICY.md).
public struct PolicyResult: Sendable, Equatable {
    public var scenario: String
    public var policy: String
    public var meanWriteMs: Double
    public var p50WriteMs: Double
    public var p99WriteMs: Double
    public var meanReadMs: Double
    public var localWriteFraction: Double
    public var moves: Int
    /// Moves per block the trace touches, per hour of the trace.
    public var movesPerBlockHour: Double
    public var transferBytes: UInt64
    /// Moves that put a block in a region its volume does not allow (Hive refuses them, so
    /// any count here is a bug below the policy).
    public var pinningViolations: Int
    public var safetyViolations: Int
    /// For scenarios whose regions work in sessions (days): over each region's last session,
    /// the fraction of its first writes to each block that were local; nil otherwise.
    public var lastDayFirstWritesLocal: Double?

    /// Reduces a finished run of `scenario`.
    public init(scenario: Scenario, report: SimReport) {
        self.scenario = scenario.name
        policy = report.policy
        let writes = report.regions.flatMap(\.writeLatenciesMs)
        let reads = report.regions.flatMap(\.readLatenciesMs)
        meanWriteMs = SimReport.mean(writes)
        p50WriteMs = SimReport.percentile(writes, 50)
        p99WriteMs = SimReport.percentile(writes, 99)
        meanReadMs = SimReport.mean(reads)
        let local = report.regions.reduce(0) { $0 + $1.localWrites }
        localWriteFraction = writes.isEmpty ? 0 : Double(local) / Double(writes.count)
        moves = report.moves.count
        let blocks = Set(scenario.trace.flatMap { op -> [BlockKey] in
            guard op.op != .flush, let size = scenario.volumes.first(where: { $0.name == op.volume })?.blockSizeBytes else { return [] }
            return (op.offset / size...(op.offset + max(op.length, 1) - 1) / size).map { BlockKey(op.volume, BlockID($0)) }
        }).count
        let hours = max((scenario.trace.last?.tMs ?? 0) - (scenario.trace.first?.tMs ?? 0), 1) / 3_600_000
        movesPerBlockHour = blocks == 0 ? 0 : Double(moves) / Double(blocks) / hours
        transferBytes = report.moves.reduce(0) { $0 + $1.transferBytes }
        pinningViolations = report.moves.count { move in
            scenario.volumes.first { $0.name == move.key.volume }.map { !$0.allows(move.to) } ?? false
        }
        safetyViolations = report.violations.count
        lastDayFirstWritesLocal = report.sessions.count > report.regions.count ? report.lastSessionsFirstWritesLocal : nil
    }

    /// The `--json` object of one result, keys in a fixed order.
    public var json: JSON {
        func r(_ x: Double) -> JSON { .number((x * 1000).rounded() / 1000) }
        return .object([
            ("scenario", .string(scenario)),
            ("policy", .string(policy)),
            ("mean_write_ms", r(meanWriteMs)),
            ("p50_write_ms", r(p50WriteMs)),
            ("p99_write_ms", r(p99WriteMs)),
            ("mean_read_ms", r(meanReadMs)),
            ("local_write_fraction", .number((localWriteFraction * 10_000).rounded() / 10_000)),
            ("moves", .int(Int64(moves))),
            ("moves_per_block_hour", r(movesPerBlockHour)),
            ("transfer_bytes", .int(Int64(transferBytes))),
            ("pinning_violations", .int(Int64(pinningViolations))),
            ("safety_violations", .int(Int64(safetyViolations))),
            ("last_day_first_writes_local", lastDayFirstWritesLocal.map { .number(($0 * 10_000).rounded() / 10_000) } ?? .null),
        ])
    }

    /// A Markdown table of results: one row per scenario and policy.
    public static func markdown(_ results: [PolicyResult]) -> String {
        var out = "| scenario | policy | mean write ms | p50 | p99 | mean read ms | local writes | moves | moves/block·h | transfer MB | pinning violations | last day's first writes local |\n"
        out += "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        for r in results {
            out += "| \(r.scenario) | \(r.policy) | \(f(r.meanWriteMs)) | \(f(r.p50WriteMs)) | \(f(r.p99WriteMs)) | \(f(r.meanReadMs)) | "
                + "\(f(r.localWriteFraction * 100))% | \(r.moves) | \(f(r.movesPerBlockHour)) | \(f(Double(r.transferBytes) / 1_000_000)) | \(r.pinningViolations) | "
                + "\(r.lastDayFirstWritesLocal.map { f($0 * 100) + "%" } ?? "–") |\n"
        }
        return out
    }

    static func f(_ x: Double) -> String {
        let a = abs(x)
        let digits = a >= 100 ? 1 : a >= 1 ? 2 : 3
        var s = String((x * pow10(digits)).rounded() / pow10(digits))
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }

    static func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * 10 } }
}
