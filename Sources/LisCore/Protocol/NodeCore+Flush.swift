// A client FLUSH (PROTOCOL.md "Flush"): the origin asks the holder of every block it had
// writes acknowledged on since the previous flush whether those writes are durable; a holder
// answers once a majority of every Q2 region has synced a copy that reaches them (its
// watermark), `lost` if its log does not contain them, or redirects to the newer holder.
// The bookkeeping is `FlushCoordinator`'s and the watermark `HolderTerm`'s; this file routes
// their answers to peers, Hive and clients.
extension NodeCore {
    /// A sync request names at most this many blocks, and a flush request this many writes;
    /// an origin splits a longer list, and a longer one from a peer is ignored.
    static let maxSyncKeys = 65_536
    static let maxFlushItems = 16_384

    // MARK: Origin

    /// Every write acknowledged to this node's clients since the previous flush was submitted
    /// must be on the disks of a majority of every Q2 region of its holder.
    mutating func onClientFlush(_ client: ClientRequestID) {
        let t = token()
        let items = flush.begin(t, client: client)
        if !items.isEmpty { effects.append(.armTimer(.flushResend(t), at: now + .ms(retryMs))) }
        askHolders(t, items)
        answerFlushes()
    }

    /// Sends each item to the node the flush asks about it, one message per node.
    mutating func askHolders(_ flushID: UInt64, _ items: [FlushItem]) {
        var byNode: [NodeID: [FlushItem]] = [:]
        for item in items { if let node = flush.asked(flushID, item) { byNode[node, default: []].append(item) } }
        for (node, items) in byNode.sorted(by: { $0.key < $1.key }) {
            let asked = items.sorted()
            for start in stride(from: 0, to: asked.count, by: Self.maxFlushItems) {
                let part = Array(asked[start..<min(start + Self.maxFlushItems, asked.count)])
                if node == id { onFlushRequest(id, flushID, part) } else { send(node, .flush(flushID, part)) }
            }
        }
    }

    /// No answer yet: ask again, the newest holder known, and Hive where it may have moved.
    mutating func resendFlush(_ flushID: UInt64) {
        let items = flush.open(flushID)
        guard !items.isEmpty else { return }
        for item in items {
            if let next = believedHolder(item.key) { flush.reask(flushID, item, next) }
            if flush.asked(flushID, item) != id { lookUpHolder(item.key) }
        }
        effects.append(.armTimer(.flushResend(flushID), at: now + .ms(retryMs)))
        askHolders(flushID, items)
    }

    mutating func onFlushVerdicts(_ from: NodeID, _ flushID: UInt64, _ verdicts: [FlushVerdict]) {
        var again: [FlushItem] = []
        for verdict in verdicts {
            let item = verdict.item
            // An answer from a node no longer asked about the item is stale.
            guard flush.asked(flushID, item) == from else { continue }
            switch verdict.outcome {
            case .durable: flush.settle(flushID, item, lost: false)
            case .lost: flush.settle(flushID, item, lost: true)
            case .redirect(let record):
                if let record { learnHint(item.key, record) }
                if let next = believedHolder(item.key), next != from {
                    flush.reask(flushID, item, next)
                    again.append(item)
                } else {
                    // The holder named is the one that redirected: Hive knows better; the
                    // resend timer asks again.
                    lookUpHolder(item.key)
                }
            }
        }
        askHolders(flushID, again)
        answerFlushes()
    }

    /// Answers the flushes that are complete, in the order they arrived.
    mutating func answerFlushes() {
        for done in flush.completed() { effects.append(.reply(done.client, done.lost ? .failed(.lost) : .flushed)) }
    }

    // MARK: Holder

    /// An origin asks whether these writes are durable. Answers what it can now; for the rest
    /// it syncs its own copies and asks its Q2 members to sync theirs.
    mutating func onFlushRequest(_ from: NodeID, _ flushID: UInt64, _ items: [FlushItem]) {
        guard items.count <= Self.maxFlushItems else { return }
        flush.wait(from, flushID, items)
        serveFlushWaits()
    }

    /// Answers what it can; for the rest, takes up the blocks Hive names this node the holder
    /// of but it does not serve (it restarted: nothing else would make it take up a block no
    /// client uses, and the flush would wait forever), and syncs the copies of the others.
    mutating func serveFlushWaits() {
        let waiting = answerFlushWaits()
        for key in waiting where blocks[key]?.holding == nil && blocks[key]?.steal == nil {
            if restarted && !(blocks[key]?.hiveChecked ?? false) {
                lookUpHolder(key)
            } else {
                takeUpIfNamed(key)
            }
        }
        if !waiting.isEmpty { syncCopies(waiting) }
    }

    /// A lookup or a steal changed what this node can say of a block flushes wait on.
    mutating func flushWaitsChanged(_ key: BlockKey) {
        if flush.waits(on: key) { serveFlushWaits() }
    }

    /// Answers every waiting item whose outcome is known; returns the blocks still waiting.
    @discardableResult
    mutating func answerFlushWaits() -> [BlockKey] {
        // The outcomes read blocks, never the coordinator: take it out while it asks.
        var coordinator = flush
        let (answers, waiting) = coordinator.answerable { flushOutcome($0) }
        flush = coordinator
        for answer in answers {
            if answer.origin == id {
                onFlushVerdicts(id, answer.flush, answer.verdicts)
            } else {
                send(answer.origin, .flushed(answer.flush, answer.verdicts))
            }
        }
        return waiting
    }

    /// What this node can say of a flushed write now; nil while it is not durable yet.
    func flushOutcome(_ item: FlushItem) -> FlushVerdict.Outcome? {
        guard let state = blocks[item.key], let term = state.holding, term.epoch == state.promised,
            item.write.position.epoch <= term.epoch
        else {
            // Hive names this node (it restarted, or its steal is under way): it will serve the
            // block and say, rather than send the origin back to itself.
            let state = blocks[item.key, default: BlockState()]
            if state.holding == nil, state.steal != nil || isNamedHolder(item.key) { return nil }
            return .redirect(redirectRecord(item.key))
        }
        return term.flushOutcome(item.write, copy: state.replica)
    }

    /// Syncs this node's copies of the blocks and asks the other Q2 members to sync theirs;
    /// their answers move each block's watermark.
    mutating func syncCopies(_ keys: [BlockKey]) {
        var own: [SyncedCopy] = []
        var byNode: [NodeID: [BlockKey]] = [:]
        for key in keys {
            guard let state = blocks[key], let term = state.holding else { continue }
            own.append(SyncedCopy(key: key, position: state.position))
            for node in map.nodes(inRegions: term.quorumRegions) where node != id { byNode[node, default: []].append(key) }
        }
        guard !own.isEmpty else { return }
        let t = token()
        flush.ownSync(t, own)
        effects.append(.sync(t))
        for (node, keys) in byNode.sorted(by: { $0.key < $1.key }) { send(node, .syncCopies(keys)) }
    }

    /// A Q2 member says how far the copies it synced reach.
    mutating func onCopiesSynced(_ from: NodeID, _ copies: [SyncedCopy]) {
        for copy in copies { recordSynced(copy.key, from, copy.position) }
        answerFlushWaits()
    }

    /// Moves the block's watermark (`HolderTerm.synced`).
    mutating func recordSynced(_ key: BlockKey, _ node: NodeID, _ position: LogPosition) {
        guard let state = blocks[key], var term = state.holding else { return }
        term.synced(node, at: position, own: state.position, map: map, mutant: mutant)
        blocks[key]?.holding = term
    }

    // MARK: Q2 member

    /// The holder asks how far this node's copies reach on disk: sync, then say.
    mutating func onSyncCopies(_ from: NodeID, _ keys: [BlockKey]) {
        guard keys.count <= Self.maxSyncKeys else { return }
        let t = token()
        flush.peerSync(t, holder: from, keys.map { SyncedCopy(key: $0, position: blocks[$0]?.position ?? .empty) })
        effects.append(.sync(t))
    }

    mutating func onSynced(_ syncToken: UInt64) {
        switch flush.synced(syncToken) {
        case .own(let copies)?:
            for copy in copies { recordSynced(copy.key, id, copy.position) }
            answerFlushWaits()
        case .peer(let holder, let copies)?:
            send(holder, .copiesSynced(copies))
        case nil:
            break
        }
    }
}
