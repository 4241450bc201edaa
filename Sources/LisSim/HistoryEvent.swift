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

    /// One line of `lis check history`'s format (LisCheck's `LisHistory`).
    public var jsonLine: String {
        var fields: [(String, JSON)] = [
            ("process", .string(process)),
            ("type", .string(kind.rawValue)),
            ("op", .string(isWrite ? "write" : "read")),
            ("volume", .string(key.volume.name)),
            ("block", .int(Int64(key.block.index))),
        ]
        if let value { fields.append(("value", .int(Int64(value)))) }
        return JSON.object(fields).rendered
    }
}
