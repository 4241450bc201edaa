import LisCheck
import LisCore

/// Checks a simulated client history for linearizability per block (LisCheck's `BlockModel`:
/// each block a register of its newest write's tag).
public enum HistoryCheck {
    public enum Outcome: Sendable, CustomStringConvertible {
        case linearizable(operations: Int)
        case violation(String)
        case unknown(String)

        public var description: String {
            switch self {
            case .linearizable(let n): "linearizable (\(n) operations)"
            case .violation(let message): "not linearizable: \(message)"
            case .unknown(let reason): "unknown: \(reason)"
            }
        }
    }

    public static func operations(_ events: [HistoryEvent]) -> [BlockOperation] {
        var completion: [String: HistoryEvent] = [:]
        for event in events where event.kind != .invoke { completion[event.process] = event }
        return events.compactMap { invoke in
            guard invoke.kind == .invoke else { return nil }
            let address = BlockAddress(volume: invoke.key.volume.name, block: invoke.key.block.index)
            let done = completion[invoke.process]
            if invoke.isWrite {
                let input = BlockModel.Input(address: address, action: .write(version: Int(invoke.value ?? 0)))
                if let done, done.kind == .ok {
                    return BlockOperation(process: invoke.process, input: input, output: .written, callTime: invoke.time, returnTime: done.time)
                }
                return BlockOperation(process: invoke.process, input: input, output: .unknown, callTime: invoke.time, returnTime: nil)
            }
            // A read that never answered constrains nothing.
            guard let done, done.kind == .ok, let value = done.value else { return nil }
            return BlockOperation(
                process: invoke.process, input: BlockModel.Input(address: address, action: .read),
                output: .read(version: Int(value)), callTime: invoke.time, returnTime: done.time)
        }
    }

    /// Per block: Gibbons & Korach's zones decide in O(n log n) (every write carries a new
    /// version); a violation they find is confirmed by the Wing & Gong search, whose
    /// explanation names the operations (if the search finds an order instead, the checkers
    /// disagree, which is reported as a violation too: one of them is wrong).
    public static func check(_ events: [HistoryEvent], limits: CheckLimits = .default) -> Outcome {
        let history = operations(events)
        var blocks: [BlockAddress] = []
        var byBlock: [BlockAddress: [BlockOperation]] = [:]
        for op in history {
            if byBlock[op.input.address] == nil { blocks.append(op.input.address) }
            byBlock[op.input.address, default: []].append(op)
        }
        var unknown: [String] = []
        for block in blocks {
            let ops = byBlock[block]!
            let zones = RegisterZones.check(ops)
            if zones == .linearizable { continue }
            switch LinearizabilityChecker.check(model: BlockModel(), history: ops, limits: limits) {
            case .notLinearizable(_, let explanation):
                return .violation("block \(block): \(explanation)")
            case .linearizable:
                if case .notLinearizable(let why) = zones {
                    return .violation("block \(block): the checkers disagree: zones say \(why); the search found an order")
                }
            case .unknown(let reason):
                if case .notLinearizable(let why) = zones { return .violation("block \(block): \(why)") }
                unknown.append("block \(block): \(reason)")
            }
        }
        if let first = unknown.first {
            return .unknown(first + (unknown.count > 1 ? " (and \(unknown.count - 1) more blocks)" : ""))
        }
        return .linearizable(operations: history.count)
    }
}
