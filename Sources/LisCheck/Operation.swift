/// One operation of a history: what a client asked (`input`), what it was told (`output`) and
/// when — the interval from its call to its return, in which it must take effect to be
/// linearizable (Herlihy & Wing 1990).
///
/// Times are integers that only order events; the parsers use 1-based line numbers, so an
/// explanation that cites times cites lines. An operation is *pending* when `returnTime` is
/// `nil`: the client never learnt its outcome, so it may take effect at any time after its call
/// or never, and its `output` SHOULD be the model's "unknown" output.
///
/// Callers MUST give `returnTime > callTime` for completed operations; when a call and a return
/// carry the same time, the checker treats the two operations as overlapping (the permissive
/// reading, which can only hide an anomaly, never invent one).
public struct Operation<Input: Sendable, Output: Sendable>: Sendable {
    /// The client that issued the operation (a Jepsen process number, a Lis client name).
    public var process: String
    /// What the client asked for.
    public var input: Input
    /// What the client was told; for a pending operation, the model's "unknown".
    public var output: Output
    /// When the client called.
    public var callTime: Int
    /// When the client learnt the outcome, or `nil` if it never did (pending).
    public var returnTime: Int?

    public init(process: String, input: Input, output: Output, callTime: Int, returnTime: Int?) {
        precondition(returnTime.map { $0 >= callTime } ?? true, "operation returns (\(returnTime!)) before its call (\(callTime))")
        self.process = process
        self.input = input
        self.output = output
        self.callTime = callTime
        self.returnTime = returnTime
    }

    /// Whether the operation never returned (its effect, if any, is unknown).
    public var isPending: Bool { returnTime == nil }
}

extension Operation: Equatable where Input: Equatable, Output: Equatable {}
extension Operation: Hashable where Input: Hashable, Output: Hashable {}
