/// Decides whether a history is linearizable with respect to a `Model`.
///
/// The history is split with the model's `partition(_:)` (P-compositionality, Horn & Kroening
/// 2015); each partition is rewritten by the model's `simplify(_:)` and searched on its own,
/// in order, with Wing & Gong's algorithm and Lowe's memoization (see `PartitionSearch`),
/// after an order-free pre-check once the search struggles. The first non-linearizable partition
/// decides the verdict; partitions whose search hits a bound make the verdict `.unknown`
/// unless another partition is non-linearizable. The checker is deterministic: the only
/// outside input is the caller's `isPastDeadline`.
public enum LinearizabilityChecker {
    /// The verdict alone; see `run(model:history:limits:)`.
    public static func check<M: Model>(
        model: M,
        history: [Operation<M.Input, M.Output>],
        limits: CheckLimits = .default
    ) -> Verdict {
        run(model: model, history: history, limits: limits).verdict
    }

    /// Checks `history` against `model` within `limits` and reports the verdict with the
    /// figures of the check.
    public static func run<M: Model>(
        model: M,
        history: [Operation<M.Input, M.Output>],
        limits: CheckLimits = .default
    ) -> CheckResult {
        let partitions = model.partition(history)
        var steps = 0
        var unknowns: [String] = []
        func result(_ verdict: Verdict) -> CheckResult {
            CheckResult(verdict: verdict, operationCount: history.count, partitionCount: partitions.count, steps: steps)
        }

        for (index, partition) in partitions.enumerated() {
            let name = "partition \(index) (\(model.describe(partition: partition)))"
            let operations = model.simplify(partition)
            if let isPastDeadline = limits.isPastDeadline, isPastDeadline() {
                unknowns.append("\(name): deadline passed before its search")
                break
            }
            if operations.count > limits.maxOperationsPerPartition {
                unknowns.append("\(name): \(operations.count) operations, more than the limit of \(limits.maxOperationsPerPartition)")
                continue
            }
            var search = PartitionSearch(model: model, operations: operations)
            switch search.run(limits: limits, steps: &steps) {
            case .linearizable:
                continue
            case .notLinearizable(let prefix):
                let explanation = explain(model: model, name: name, operations: operations, prefix: prefix)
                return result(.notLinearizable(partition: index, explanation: explanation))
            case .impossible(let operation, let reachableStates):
                let explanation = """
                    \(name) is not linearizable.
                    \(describe(model: model, operations[operation])) fits none of the \(counted(reachableStates, "state")) that \
                    the partition's operations reach in any order.
                    """
                return result(.notLinearizable(partition: index, explanation: explanation))
            case .unknown(let reason):
                unknowns.append("\(name): \(reason)")
            }
        }
        if let first = unknowns.first {
            let more = unknowns.count > 1 ? " (and \(counted(unknowns.count - 1, "more partition")))" : ""
            return result(.unknown(reason: first + more))
        }
        return result(.linearizable)
    }

    /// An operation with its times, e.g. `c1 read → 5 [call 3, return 9]`.
    static func describe<M: Model>(model: M, _ operation: Operation<M.Input, M.Output>) -> String {
        let returned = operation.returnTime.map(String.init) ?? "never"
        return "\(model.describe(operation: operation)) [call \(operation.callTime), return \(returned)]"
    }

    /// Says which partition failed, the longest linearizable prefix found, the state after it
    /// and the operation that could not be placed: the completed operation that returns first
    /// among those left, which must be linearized before anything called after its return.
    static func explain<M: Model>(
        model: M,
        name: String,
        operations: [Operation<M.Input, M.Output>],
        prefix: [Int]
    ) -> String {
        func describe(_ index: Int) -> String { Self.describe(model: model, operations[index]) }
        var state = model.initialState
        for index in prefix {
            let (ok, newState) = model.step(state, input: operations[index].input, output: operations[index].output)
            precondition(ok, "a linearized prefix replays")
            state = newState
        }
        var lines = ["\(name) is not linearizable."]
        lines.append("Longest linearizable prefix found: \(prefix.count) of \(counted(operations.count, "operation")), ending in state \(model.describe(state: state)).")
        let shown = 10
        if prefix.count > shown { lines.append("  … \(counted(prefix.count - shown, "earlier operation"))") }
        for index in prefix.suffix(shown) { lines.append("  \(describe(index))") }

        var taken = Array(repeating: false, count: operations.count)
        for index in prefix { taken[index] = true }
        let blocker = operations.indices
            .filter { !taken[$0] && !operations[$0].isPending }
            .min { (operations[$0].returnTime!, $0) < (operations[$1].returnTime!, $1) }
        if let blocker {
            let deadline = operations[blocker].returnTime!
            let candidates = operations.indices.filter { !taken[$0] && operations[$0].callTime <= deadline }
            let fitting = candidates.filter { model.step(state, input: operations[$0].input, output: operations[$0].output).ok }
            lines.append("Then \(describe(blocker)) cannot be placed: of \(counted(candidates.count, "operation")) that may go next, "
                + (fitting.isEmpty
                    ? "none fits state \(model.describe(state: state))."
                    : "\(fitting.count) \(fitting.count == 1 ? "fits" : "fit") state \(model.describe(state: state)) but lead to dead ends."))
        }
        return lines.joined(separator: "\n")
    }

    /// `1 operation`, `2 operations`.
    static func counted(_ count: Int, _ noun: String) -> String {
        "\(count) \(noun)\(count == 1 ? "" : "s")"
    }
}
