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

    public static func check(_ events: [HistoryEvent], limits: CheckLimits = .default) -> Outcome {
        let history = operations(events)
        switch LinearizabilityChecker.check(model: BlockModel(), history: history, limits: limits) {
        case .linearizable: return .linearizable(operations: history.count)
        case .notLinearizable(_, let explanation): return .violation(explanation)
        case .unknown(let reason): return .unknown(reason)
        }
    }
}
