// A client FLUSH (PROTOCOL.md "Flush"): the origin asks the holder of every block it had
// writes acknowledged on since the previous flush whether those writes are durable; a holder
// answers once a majority of every Q2 region has synced a copy that reaches them (its
// watermark), `lost` if its log does not contain them, or redirects to the newer holder.
extension NodeCore {
    /// A holder keeps at most this many flush requests waiting; an origin resends a dropped one.
    static let maxHolderFlushWaits = 4096
    /// A sync request names at most this many blocks, and a flush request this many writes;
    /// an origin splits a longer list, and a longer one from a peer is ignored.
    static let maxSyncKeys = 65_536
    static let maxFlushItems = 16_384

    // MARK: Origin

    /// Remembers a write acknowledged to a local client, for the next flush to vouch for.
    mutating func noteAcknowledged(_ key: BlockKey, _ id: RequestID?, _ position: LogPosition, holder: NodeID) {
        guard let id else { return }
        let newer = AckedWrite(write: WriteRef(id: id, position: position), holder: holder)
        if let known = unflushed[key]?[position.epoch], known.write.position.version >= position.version { return }
        unflushed[key, default: [:]][position.epoch] = newer
    }

    /// Every write acknowledged to this node's clients since the previous flush was submitted
    /// must be on the disks of a majority of every Q2 region of its holder.
    mutating func onClientFlush(_ client: ClientRequestID) {
        var open: [FlushItem: NodeID] = [:]
        for (key, byEpoch) in unflushed {
            for acked in byEpoch.values { open[FlushItem(key: key, write: acked.write)] = acked.holder }
        }
        unflushed.removeAll()
        let t = token()
        flushes[t] = PendingFlush(client: client, open: open)
        if !open.isEmpty { effects.append(.armTimer(.flushResend(t), at: now + .ms(retryMs))) }
        askHolders(t, open.keys.sorted())
        answerFlushes()
    }

    /// Sends each item to the node the flush asks about it, one message per node.
    mutating func askHolders(_ flush: UInt64, _ items: [FlushItem]) {
        guard let pending = flushes[flush] else { return }
        var byNode: [NodeID: [FlushItem]] = [:]
        for item in items { if let node = pending.open[item] { byNode[node, default: []].append(item) } }
        for (node, items) in byNode.sorted(by: { $0.key < $1.key }) {
            let asked = items.sorted()
            for start in stride(from: 0, to: asked.count, by: Self.maxFlushItems) {
                let part = Array(asked[start..<min(start + Self.maxFlushItems, asked.count)])
                if node == id { onFlushRequest(id, flush, part) } else { send(node, .flush(flush, part)) }
            }
        }
    }

    /// No answer yet: ask again, the newest holder known, and Hive where it may have moved.
    mutating func resendFlush(_ flush: UInt64) {
        guard let pending = flushes[flush], !pending.open.isEmpty else { return }
        let items = pending.open.keys.sorted()
        for item in items {
            let key = item.key
            if let next = believedHolder(key) { flushes[flush]?.open[item] = next }
            if flushes[flush]!.open[item] != id { lookUpHolder(key) }
        }
        effects.append(.armTimer(.flushResend(flush), at: now + .ms(retryMs)))
        askHolders(flush, items)
    }

    mutating func onFlushVerdicts(_ from: NodeID, _ flush: UInt64, _ verdicts: [FlushVerdict]) {
        guard var pending = flushes[flush] else { return }
        var again: [FlushItem] = []
        for verdict in verdicts {
            let item = verdict.item
            // An answer from a node no longer asked about the item is stale.
            guard pending.open[item] == from else { continue }
            switch verdict.outcome {
            case .durable:
                pending.open[item] = nil
            case .lost:
                pending.open[item] = nil
                pending.lost = true
            case .redirect(let record):
                if let record { learnHint(item.key, record) }
                if let next = believedHolder(item.key), next != from {
                    pending.open[item] = next
                    again.append(item)
                } else {
                    // The holder named is the one that redirected: Hive knows better; the
                    // resend timer asks again.
                    lookUpHolder(item.key)
                }
            }
        }
        flushes[flush] = pending
        askHolders(flush, again)
        answerFlushes()
    }

    /// Answers flushes in the order they arrived: a flush covers every write completed before
    /// it (NBD), and an earlier flush may be the one still making some of them durable.
    mutating func answerFlushes() {
        while let first = flushes.keys.min(), let done = flushes[first], done.open.isEmpty {
            flushes[first] = nil
            effects.append(.reply(done.client, done.lost ? .failed(.lost) : .flushed))
        }
    }

    // MARK: Holder

    /// An origin asks whether these writes are durable. Answers what it can now; for the rest
    /// it syncs its own copies and asks its Q2 members to sync theirs.
    mutating func onFlushRequest(_ from: NodeID, _ flush: UInt64, _ items: [FlushItem]) {
        guard items.count <= Self.maxFlushItems else { return }
        if let i = holderFlushWaits.firstIndex(where: { $0.origin == from && $0.flush == flush }) {
            // A resend, or the next part of a long list: wait for the items not waiting yet.
            let waiting = Set(holderFlushWaits[i].items)
            holderFlushWaits[i].items += items.filter { !waiting.contains($0) }
        } else {
            if holderFlushWaits.count >= Self.maxHolderFlushWaits { holderFlushWaits.removeFirst() }
            holderFlushWaits.append(HolderFlushWait(origin: from, flush: flush, items: items))
        }
        let waiting = answerFlushWaits()
        if !waiting.isEmpty { syncCopies(waiting) }
    }

    /// Answers every waiting item whose outcome is known; returns the blocks still waiting.
    @discardableResult
    mutating func answerFlushWaits() -> [BlockKey] {
        var waiting: Set<BlockKey> = []
        var answers: [(NodeID, UInt64, [FlushVerdict])] = []
        var still: [HolderFlushWait] = []
        for var wait in holderFlushWaits {
            var verdicts: [FlushVerdict] = []
            var open: [FlushItem] = []
            for item in wait.items {
                if let outcome = flushOutcome(item) {
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
        holderFlushWaits = still
        for (origin, flush, verdicts) in answers {
            if origin == id { onFlushVerdicts(id, flush, verdicts) } else { send(origin, .flushed(flush, verdicts)) }
        }
        return waiting.sorted()
    }

    /// What this node can say of a flushed write now; nil while it is not durable yet.
    func flushOutcome(_ item: FlushItem) -> FlushVerdict.Outcome? {
        let key = item.key
        let position = item.write.position
        guard let state = blocks[key], let holding = state.holding, holding.epoch == state.promised,
            position.epoch <= holding.epoch
        else { return .redirect(redirectRecord(key)) }
        guard contains(item.write, state: state, holding: holding) else { return .lost }
        return position.version <= holding.durableVersion ? .durable : nil
    }

    /// Whether this holder's log contains the write at its position. A position names one
    /// history (a holder writes each version once per epoch), so: an entry of this epoch is
    /// this holder's own; one of the epoch the term started from is in the start copy up to
    /// its version (log matching); any other one only if the copy's newest writes list it
    /// there. A write this holder cannot place in its log is reported lost: a false `lost` is
    /// an error the client sees, a false `durable` a promise broken.
    func contains(_ write: WriteRef, state: BlockState, holding: Holding) -> Bool {
        let position = write.position
        if position.epoch == holding.epoch { return position.version <= state.position.version }
        if position.epoch == holding.start.epoch { return position.version <= holding.start.version }
        return state.recent[write.id] == position
    }

    /// Syncs this node's copies of the blocks and asks the other Q2 members to sync theirs;
    /// their answers move each block's watermark.
    mutating func syncCopies(_ keys: [BlockKey]) {
        var own: [SyncedCopy] = []
        var byNode: [NodeID: [BlockKey]] = [:]
        for key in keys {
            guard let holding = blocks[key]?.holding else { continue }
            own.append(SyncedCopy(key: key, position: blocks[key, default: BlockState()].position))
            for node in map.nodes(inRegions: holding.quorumRegions) where node != id { byNode[node, default: []].append(key) }
        }
        guard !own.isEmpty else { return }
        let t = token()
        ownSyncs[t] = own
        effects.append(.sync(t))
        for (node, keys) in byNode.sorted(by: { $0.key < $1.key }) { send(node, .syncCopies(keys)) }
    }

    /// A Q2 member says how far the copies it synced reach.
    mutating func onCopiesSynced(_ from: NodeID, _ copies: [SyncedCopy]) {
        for copy in copies { recordSynced(copy.key, from, copy.position) }
        answerFlushWaits()
    }

    /// Moves the block's watermark: the highest version that a majority of every Q2 region
    /// reported synced in this epoch. A copy of this epoch has this holder's log up to its
    /// position (log matching), so its report covers every entry below it; copies of other
    /// epochs count for nothing (the term's start is durable already).
    mutating func recordSynced(_ key: BlockKey, _ node: NodeID, _ position: LogPosition) {
        guard var holding = blocks[key]?.holding, map.contains(node) else { return }
        let version: Version
        if mutant == .flushCountsAnySync {
            version = holding.committed(blocks[key, default: BlockState()].position).version
        } else {
            guard position.epoch == holding.epoch else { return }
            version = position.version
        }
        holding.syncedVersion[node] = max(holding.syncedVersion[node] ?? 0, version)
        let regionWatermarks = holding.quorumRegions.map { r -> Version in
            let members = map.nodes(in: r)
            let synced = members.map { holding.syncedVersion[$0] ?? 0 }.sorted(by: >)
            return synced.isEmpty ? 0 : synced[members.count / 2]
        }
        holding.durableVersion = max(holding.durableVersion, regionWatermarks.min() ?? 0)
        precondition(
            holding.durableVersion <= blocks[key, default: BlockState()].position.version || mutant == .flushCountsAnySync,
            "\(id): the watermark of \(key) passed its log (\(holding.durableVersion) > \(blocks[key, default: BlockState()].position))")
        blocks[key, default: BlockState()].holding = holding
    }

    // MARK: Q2 member

    /// The holder asks how far this node's copies reach on disk: sync, then say.
    mutating func onSyncCopies(_ from: NodeID, _ keys: [BlockKey]) {
        guard keys.count <= Self.maxSyncKeys else { return }
        let t = token()
        peerSyncs[t] = (from, keys.map { SyncedCopy(key: $0, position: blocks[$0]?.position ?? .empty) })
        effects.append(.sync(t))
    }

    mutating func onSynced(_ syncToken: UInt64) {
        if let own = ownSyncs.removeValue(forKey: syncToken) {
            for copy in own { recordSynced(copy.key, id, copy.position) }
            answerFlushWaits()
        } else if let (holder, copies) = peerSyncs.removeValue(forKey: syncToken) {
            send(holder, .copiesSynced(copies))
        }
    }
}
