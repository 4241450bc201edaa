import LisCheck
import Testing

/// Zones against the Wing & Gong search, which is exact on small histories: random block
/// histories (writes of new versions, reads of a version written or not, unknown outcomes,
/// overlapping intervals) must get the same verdict from both.
@Suite struct RegisterZonesTests {
    static let address = BlockAddress(volume: "vm", block: 0)

    static func history(seed: UInt64) -> [BlockOperation] {
        var random = SplitMix64(seed: seed)
        let count = Int.random(in: 2...9, using: &random)
        var written: [Int] = []
        var state = 0
        var ops: [BlockOperation] = []
        for step in 0..<count {
            let point = 10 * step
            let call = point - Int.random(in: 0..<25, using: &random)
            let end = point + Int.random(in: 1..<25, using: &random)
            if Bool.random(using: &random) {
                let version = written.count + 1
                written.append(version)
                state = version
                let unknown = Int.random(in: 0..<5, using: &random) == 0
                ops.append(BlockOperation(
                    process: "p\(step)", input: .init(address: address, action: .write(version: version)),
                    output: unknown ? .unknown : .written, callTime: call, returnTime: unknown ? nil : end))
            } else {
                // Mostly what a sequential run would read; sometimes any version (maybe wrong).
                let value = Int.random(in: 0..<4, using: &random) == 0 ? Int.random(in: 0...written.count + 1, using: &random) : state
                ops.append(BlockOperation(
                    process: "p\(step)", input: .init(address: address, action: .read), output: .read(version: value),
                    callTime: call, returnTime: end))
            }
        }
        return ops
    }

    @Test func agreesWithTheSearchOnRandomHistories() {
        var disagreements: [UInt64] = []
        var bad = 0
        for seed in 1...20_000 as ClosedRange<UInt64> {
            let ops = Self.history(seed: seed)
            let search = LinearizabilityChecker.check(model: BlockModel(), history: ops)
            let zones = RegisterZones.check(ops)
            switch (search, zones) {
            case (.linearizable, .linearizable): break
            case (.notLinearizable, .notLinearizable): bad += 1
            default: disagreements.append(seed)
            }
        }
        #expect(disagreements.isEmpty, "seeds \(disagreements.prefix(10))")
        #expect(bad > 1000, "the generator makes non-linearizable histories too (\(bad))")
    }

    @Test func namesTheProblem() {
        func op(_ action: BlockModel.Action, _ output: BlockModel.Output, _ call: Int, _ end: Int?) -> BlockOperation {
            BlockOperation(process: "p\(call)", input: .init(address: Self.address, action: action), output: output, callTime: call, returnTime: end)
        }
        // Write 1 completes, then a read returns the initial value.
        let stale = [op(.write(version: 1), .written, 0, 5), op(.read, .read(version: 0), 10, 15)]
        guard case .notLinearizable(let why) = RegisterZones.check(stale) else {
            Issue.record("a stale read must not pass")
            return
        }
        #expect(why.contains("version 1") && why.contains("version 0"))
        #expect(RegisterZones.check([op(.read, .read(version: 7), 0, 1)]) == .notLinearizable("a read returned version 7, which no operation wrote"))
        #expect(RegisterZones.check([op(.write(version: 1), .written, 0, 1), op(.write(version: 1), .written, 2, 3)]) != .linearizable)
    }
}
