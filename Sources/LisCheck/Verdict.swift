/// The answer of a linearizability check.
///
/// A bound (steps, size, cache, deadline) never turns into a verdict about the history: it
/// gives `.unknown`, so `.linearizable` and `.notLinearizable` are always exact.
public enum Verdict: Sendable, Hashable {
    /// Every partition has an order of its operations that respects real time and the model.
    case linearizable
    /// Partition `partition` (an index into the model's `partition(_:)`) has no such order.
    /// `explanation` names the partition, the longest linearizable prefix the search found
    /// and the operation that could not be placed after it.
    case notLinearizable(partition: Int, explanation: String)
    /// A bound was hit before an answer was found and no partition was found to be
    /// non-linearizable; `reason` says which bound and where.
    case unknown(reason: String)

    /// `linearizable`, `not-linearizable` or `unknown`: the word the command line prints.
    public var label: String {
        switch self {
        case .linearizable: "linearizable"
        case .notLinearizable: "not-linearizable"
        case .unknown: "unknown"
        }
    }
}

/// Bounds on one check. Every bound is per partition except the deadline, which covers the
/// whole check; hitting one gives `.unknown` for that partition, and the other partitions
/// are still checked (one non-linearizable partition decides the whole history).
public struct CheckLimits: Sendable {
    /// Search steps (one candidate tried, or one backtrack) allowed per partition.
    public var maxSteps: Int
    /// Operations allowed in one partition; a larger partition is not searched at all.
    public var maxOperationsPerPartition: Int
    /// Memoized (linearized set, state) pairs kept per partition, which bounds memory.
    public var maxCacheEntries: Int
    /// How many steps pass between two calls of `isPastDeadline`.
    public var deadlineCheckIntervalSteps: Int
    /// Asked every `deadlineCheckIntervalSteps` steps (and before each partition); `true`
    /// stops the check with `.unknown`. The caller owns the clock, so the checker stays
    /// deterministic whenever the caller's closure is.
    public var isPastDeadline: (@Sendable () -> Bool)?

    /// Bounds for interactive use: minutes of work at most, and a few GiB of memory.
    public static let `default` = CheckLimits()

    public init(
        maxSteps: Int = 100_000_000,
        maxOperationsPerPartition: Int = 1_000_000,
        maxCacheEntries: Int = 10_000_000,
        deadlineCheckIntervalSteps: Int = 10_000,
        isPastDeadline: (@Sendable () -> Bool)? = nil
    ) {
        precondition(maxSteps >= 0 && maxOperationsPerPartition >= 0 && maxCacheEntries >= 0, "limits must not be negative")
        precondition(deadlineCheckIntervalSteps > 0, "deadlineCheckIntervalSteps must be positive, got \(deadlineCheckIntervalSteps)")
        self.maxSteps = maxSteps
        self.maxOperationsPerPartition = maxOperationsPerPartition
        self.maxCacheEntries = maxCacheEntries
        self.deadlineCheckIntervalSteps = deadlineCheckIntervalSteps
        self.isPastDeadline = isPastDeadline
    }
}

/// A verdict with the figures of the check that reached it.
public struct CheckResult: Sendable, Hashable {
    public var verdict: Verdict
    /// Operations in the history (pending ones included).
    public var operationCount: Int
    /// Partitions the model split the history into.
    public var partitionCount: Int
    /// Search steps over all partitions searched.
    public var steps: Int

    public init(verdict: Verdict, operationCount: Int, partitionCount: Int, steps: Int) {
        self.verdict = verdict
        self.operationCount = operationCount
        self.partitionCount = partitionCount
        self.steps = steps
    }
}
