import LisCheck
import Testing

/// A Jepsen history written with spaces for readability: each line is `PROCESS TYPE F ARG`
/// (the argument may contain spaces, as in `[1 2]`), turned into the tab-separated log format.
func jepsen(_ script: String) throws -> [RegisterOperation] {
    let lines = script.split(separator: "\n").map { line in
        "INFO  jepsen.util - " + line.drop(while: { $0 == " " }).split(separator: " ", maxSplits: 3).joined(separator: "\t")
    }
    return try JepsenHistory.parse(lines.joined(separator: "\n"))
}

func checkRegister(_ script: String, limits: CheckLimits = .default) throws -> Verdict {
    LinearizabilityChecker.check(model: RegisterModel(), history: try jepsen(script), limits: limits)
}

func checkBlocks(_ jsonLines: String, limits: CheckLimits = .default) throws -> Verdict {
    LinearizabilityChecker.check(model: BlockModel(), history: try LisHistory.parse(jsonLines), limits: limits)
}

extension Verdict {
    var isLinearizable: Bool { self == .linearizable }
    var isNotLinearizable: Bool { if case .notLinearizable = self { true } else { false } }
    var isUnknown: Bool { if case .unknown = self { true } else { false } }
    var explanation: String? { if case .notLinearizable(_, let explanation) = self { explanation } else { nil } }
    var failedPartition: Int? { if case .notLinearizable(let partition, _) = self { partition } else { nil } }
    var reason: String? { if case .unknown(let reason) = self { reason } else { nil } }
}

/// SplitMix64 (Steele, Lea & Flood 2014): the tests' seeded generator, so every random history
/// is replayed by its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
