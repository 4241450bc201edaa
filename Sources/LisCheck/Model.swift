/// A sequential specification: what one object does when operations are applied one at a time.
///
/// The checker asks whether the concurrent history can be explained by *some* order of its
/// operations that respects real time and that the model accepts step by step (Wing & Gong
/// 1993). It memoizes (set of operations taken, state) pairs, so `State` MUST be a value whose
/// equality means "the future behaves the same" (Lowe 2017) — include nothing else in it.
///
/// `step` MUST be a pure, total function: the checker calls it many times with the same
/// arguments, backtracks by discarding its results, and (in an order-free pre-check) applies
/// operations to states reached by any sequence of the partition's operations.
public protocol Model: Sendable {
    /// What a client asks.
    associatedtype Input: Sendable
    /// What a client is told (including an "unknown" for operations whose outcome was lost).
    associatedtype Output: Sendable
    /// The object's state between operations.
    associatedtype State: Hashable & Sendable

    /// The state before any operation.
    var initialState: State { get }

    /// Applies `input` to `state`: `ok` is whether the model could have answered `output`,
    /// and `newState` is the state afterwards (ignored when `ok` is false).
    func step(_ state: State, input: Input, output: Output) -> (ok: Bool, newState: State)

    /// Splits a history into independent sub-histories, each checked on its own from
    /// `initialState`. This is sound only when the model is a product of independent objects
    /// and every operation touches exactly one of them (P-compositionality, Horn & Kroening
    /// 2015); the default is the whole history as one partition. The order of the result
    /// MUST be deterministic (it names partitions in verdicts).
    func partition(_ history: [Operation<Input, Output>]) -> [[Operation<Input, Output>]]

    /// Rewrites one partition, before it is searched, into a history with the same verdict
    /// that is cheaper to search — typically by dropping pending operations that cannot
    /// matter, or by bounding when a pending operation must have taken effect. It MUST keep
    /// the verdict exactly; explanations cite the rewritten operations. The default keeps
    /// the partition as it is.
    func simplify(_ partition: [Operation<Input, Output>]) -> [Operation<Input, Output>]

    /// A short name for a partition in explanations, e.g. `vm1/7`.
    func describe(partition: [Operation<Input, Output>]) -> String

    /// An operation in explanations, e.g. `c1 write 42`.
    func describe(operation: Operation<Input, Output>) -> String

    /// A state in explanations.
    func describe(state: State) -> String
}

extension Model {
    public func partition(_ history: [Operation<Input, Output>]) -> [[Operation<Input, Output>]] {
        history.isEmpty ? [] : [history]
    }

    public func simplify(_ partition: [Operation<Input, Output>]) -> [Operation<Input, Output>] { partition }

    public func describe(partition: [Operation<Input, Output>]) -> String { "all operations" }

    public func describe(operation: Operation<Input, Output>) -> String {
        "\(operation.process) \(operation.input) → \(operation.output)"
    }

    public func describe(state: State) -> String { "\(state)" }
}
