import LisCore

/// One line of a client history: an operation's invocation or its completion, in real-time
/// order. Values are write tags (a read returns the tag of the block's newest write, 0 if none).
public struct HistoryEvent: Sendable, Equatable {
    public enum Kind: String, Sendable { case invoke, ok, info }
    /// Orders events; equal only for one event.
    public var time: Int
    /// One per operation: clients issue open-loop, so each operation is its own process.
    public var process: String
    public var kind: Kind
    public var isWrite: Bool
    public var key: BlockKey
    public var value: UInt64?
}
