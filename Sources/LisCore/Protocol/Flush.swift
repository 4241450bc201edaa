/// One acknowledged write a client `FLUSH` vouches for: the origin asks the holder that
/// acknowledged it (or whoever holds the block now) whether it is durable.
///
/// Writes a holder acknowledged in one epoch form a prefix of that holder's log, so the origin
/// names only the newest write it had acknowledged per block and epoch: once that one is on a
/// majority's disks, so is every earlier one of the same epoch.
public struct FlushItem: Hashable, Sendable, Comparable, Codable {
    public var key: BlockKey
    public var write: WriteRef
    public init(key: BlockKey, write: WriteRef) {
        self.key = key
        self.write = write
    }
    public static func < (a: FlushItem, b: FlushItem) -> Bool {
        a.key != b.key ? a.key < b.key : a.write.position < b.write.position
    }
}

/// A holder's answer about one `FlushItem`.
public struct FlushVerdict: Hashable, Sendable, Codable {
    public enum Outcome: Hashable, Sendable, Codable {
        /// A majority of every Q2 region has synced a copy that contains the write.
        case durable
        /// The holder's log does not contain the write: a crash took it before it was synced
        /// on a majority (NBD: the flush fails with EIO, as fsync does).
        case lost
        /// This node does not hold the block (any more): ask the holder of this record.
        case redirect(LeaseRecord?)
    }
    public var item: FlushItem
    public var outcome: Outcome
    public init(item: FlushItem, outcome: Outcome) {
        self.item = item
        self.outcome = outcome
    }
}

/// A copy's position when a sync started: the sync made every entry up to it durable.
public struct SyncedCopy: Hashable, Sendable, Codable {
    public var key: BlockKey
    public var position: LogPosition
    public init(key: BlockKey, position: LogPosition) {
        self.key = key
        self.position = position
    }
}

/// A client flush at its origin: the writes it vouches for that no holder has answered for
/// yet, each with the node asked about it.
struct PendingFlush: Sendable {
    var client: ClientRequestID
    var open: [FlushItem: NodeID]
    /// A holder answered `lost` for one of its writes.
    var lost = false
}

/// The newest write acknowledged to a client of this node for a block in one epoch, and the
/// holder that acknowledged it.
struct AckedWrite: Sendable {
    var write: WriteRef
    var holder: NodeID
}

/// A flush request at a holder: the items not answered yet.
struct HolderFlushWait: Sendable {
    var origin: NodeID
    var flush: UInt64
    var items: [FlushItem]
}
