/// One node's part in flushes (PROTOCOL.md "Flush"), all its state in one place: as an origin,
/// the writes acknowledged to its clients since the last flush and the flushes not answered
/// yet; as a holder, the flush requests waiting for the watermark and its own syncs under way;
/// as a Q2 member, the syncs a holder asked for. It decides nothing about blocks: the node
/// asks it what is owed to whom, and tells it what was answered.
struct FlushCoordinator: Sendable {
    /// A holder keeps at most this many flush requests waiting; an origin resends a dropped one.
    static let maxWaits = 4096

    private var unflushed: [BlockKey: [Epoch: AckedWrite]] = [:]
    private var flushes: [UInt64: PendingFlush] = [:]
    private var waits: [HolderFlushWait] = []
    private var ownSyncs: [UInt64: [SyncedCopy]] = [:]
    private var peerSyncs: [UInt64: (holder: NodeID, copies: [SyncedCopy])] = [:]

    /// Client flushes not yet answered.
    var pendingCount: Int { flushes.count }

    // MARK: Origin

    /// A write acknowledged to a local client: the next flush vouches for it. Only the newest
    /// per block and epoch is kept (FlushItem). A FUA write was on the disks of Q2 when it was
    /// acknowledged: no flush has to vouch for it (and a flush long after, past epochs the
    /// holder can no longer place it in, would report it lost).
    mutating func acknowledged(_ key: BlockKey, _ id: RequestID?, _ position: LogPosition, holder: NodeID, fua: Bool) {
        guard let id, !fua else { return }
        // One lookup of the block (a write of a block already listed changes its entry in place).
        Self.note(AckedWrite(write: WriteRef(id: id, position: position), holder: holder), in: &unflushed[key, default: [:]])
    }

    private static func note(_ acked: AckedWrite, in byEpoch: inout [Epoch: AckedWrite]) {
        let position = acked.write.position
        if let known = byEpoch[position.epoch], known.write.position.version >= position.version { return }
        byEpoch[position.epoch] = acked
    }

    /// A client flush: it vouches for every write acknowledged since the previous one, each
    /// asked of the holder that acknowledged it. Returns the items, in order.
    mutating func begin(_ flush: UInt64, client: ClientRequestID) -> [FlushItem] {
        var open: [FlushItem: NodeID] = [:]
        for (key, byEpoch) in unflushed {
            for acked in byEpoch.values { open[FlushItem(key: key, write: acked.write)] = acked.holder }
        }
        unflushed.removeAll()
        flushes[flush] = PendingFlush(client: client, open: open)
        return open.keys.sorted()
    }

    /// The items of a flush no holder has answered for yet, in order.
    func open(_ flush: UInt64) -> [FlushItem] { flushes[flush]?.open.keys.sorted() ?? [] }

    /// The node a flush asks about an item, while it is open.
    func asked(_ flush: UInt64, _ item: FlushItem) -> NodeID? { flushes[flush]?.open[item] }

    /// Asks another node about an open item (the block moved).
    mutating func reask(_ flush: UInt64, _ item: FlushItem, _ node: NodeID) {
        guard flushes[flush]?.open[item] != nil else { return }
        flushes[flush]?.open[item] = node
    }

    /// A holder's answer that settles an item: durable, or lost.
    mutating func settle(_ flush: UInt64, _ item: FlushItem, lost: Bool) {
        guard flushes[flush]?.open.removeValue(forKey: item) != nil else { return }
        if lost { flushes[flush]?.lost = true }
    }

    /// The flushes answered now, in the order they arrived: a flush covers every write
    /// completed before it (NBD), and an earlier flush may be the one still making some of
    /// them durable. `lost`: a holder answered `lost` for one of its writes.
    mutating func completed() -> [(client: ClientRequestID, lost: Bool)] {
        var done: [(ClientRequestID, Bool)] = []
        while let first = flushes.keys.min(), let flush = flushes[first], flush.open.isEmpty {
            flushes[first] = nil
            done.append((flush.client, flush.lost))
        }
        return done
    }

    // MARK: Holder

    /// An origin asks about these items (a resend, or the next part of a long list, adds the
    /// ones not waiting yet). The oldest request is dropped when too many wait.
    mutating func wait(_ origin: NodeID, _ flush: UInt64, _ items: [FlushItem]) {
        if let i = waits.firstIndex(where: { $0.origin == origin && $0.flush == flush }) {
            let waiting = Set(waits[i].items)
            waits[i].items += items.filter { !waiting.contains($0) }
        } else {
            if waits.count >= Self.maxWaits { waits.removeFirst() }
            waits.append(HolderFlushWait(origin: origin, flush: flush, items: items))
        }
    }

    /// Takes every waiting item whose outcome `outcome` knows now. Returns the answers per
    /// origin and flush, and the blocks whose items still wait.
    mutating func answerable(
        _ outcome: (FlushItem) -> FlushVerdict.Outcome?
    ) -> (answers: [(origin: NodeID, flush: UInt64, verdicts: [FlushVerdict])], waiting: [BlockKey]) {
        var waiting: Set<BlockKey> = []
        var answers: [(NodeID, UInt64, [FlushVerdict])] = []
        var still: [HolderFlushWait] = []
        for var wait in waits {
            var verdicts: [FlushVerdict] = []
            var open: [FlushItem] = []
            for item in wait.items {
                if let outcome = outcome(item) {
                    verdicts.append(FlushVerdict(item: item, outcome: outcome))
                } else {
                    open.append(item)
                    waiting.insert(item.key)
                }
            }
            if !verdicts.isEmpty { answers.append((wait.origin, wait.flush, verdicts)) }
            wait.items = open
            if !open.isEmpty { still.append(wait) }
        }
        waits = still
        return (answers, waiting.sorted())
    }

    /// Whether a flush request waits on an item of the block.
    func waits(on key: BlockKey) -> Bool { waits.contains { $0.items.contains { $0.key == key } } }

    /// This node syncs its own copies for waiting flushes (`NodeEffect.sync(token)`).
    mutating func ownSync(_ token: UInt64, _ copies: [SyncedCopy]) { ownSyncs[token] = copies }

    // MARK: Q2 member

    /// A holder asked this node to sync these copies (`NodeEffect.sync(token)`).
    mutating func peerSync(_ token: UInt64, holder: NodeID, _ copies: [SyncedCopy]) { peerSyncs[token] = (holder, copies) }

    /// A sync completed: what it covered, and for whom.
    enum SyncDone {
        /// This node's own copies, for its waiting flushes.
        case own([SyncedCopy])
        /// Copies a holder asked about: report them to it.
        case peer(holder: NodeID, [SyncedCopy])
    }
    mutating func synced(_ token: UInt64) -> SyncDone? {
        if let own = ownSyncs.removeValue(forKey: token) { return .own(own) }
        if let peer = peerSyncs.removeValue(forKey: token) { return .peer(holder: peer.holder, peer.copies) }
        return nil
    }
}
