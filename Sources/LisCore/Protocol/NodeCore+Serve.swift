// Serving operations: a local client's request, the holder's write and read paths, the
// acceptor's side of a write, and forwarding to the holder.
extension NodeCore {
    mutating func onClient(_ client: ClientRequestID, _ key: BlockKey, _ op: BlockOp) {
        guard let volume = volume(key), key.block.index < volume.blockCount else {
            effects.append(.reply(client, .failed(.outOfRange)))
            return
        }
        let blockStart = key.block.index * volume.blockSizeBytes
        let blockLength = min(volume.blockSizeBytes, volume.sizeBytes - blockStart)
        let (offset, length) = op.range
        guard length > 0, UInt64(offset) + UInt64(length) <= blockLength else {
            effects.append(.reply(client, .failed(.outOfRange)))
            return
        }
        blocks[key, default: BlockState()].heat.record(
            region: region, isWrite: op.isWrite, bytes: UInt64(length), at: hlc.now(physicalMs: wallMs))
        var op = op
        if case .write(var write) = op, write.id == nil {
            write.id = RequestID(origin: id, seq: nextSeq)
            nextSeq += 1
            op = .write(write)
        }
        dispatch(key, QueuedOp(op: op, reply: .client(client)))
    }

    /// Serves, queues or forwards an operation, whichever this node's state allows.
    mutating func dispatch(_ key: BlockKey, _ queued: QueuedOp, hops: Int = 0) {
        if serveIfHolder(key, queued) { return }
        var state = blocks[key, default: BlockState()]
        if state.steal != nil {
            guard state.queue.count < Self.maxQueuedPerBlock else {
                reply(queued.reply, .failed(.busy))
                return
            }
            state.queue.append(queued)
            blocks[key] = state
            return
        }
        let holder = believedHolder(key)
        guard let holder, holder != id else {
            // This node is named holder but does not serve: its view is stale. Ask Hive.
            park(key, queued)
            return
        }
        switch queued.reply {
        case .peer:
            // Not ours to forward on: tell the sender what we know instead.
            reply(queued.reply, .redirect(redirectRecord(key)))
        case .client(let client):
            let request = RequestID(origin: id, seq: nextSeq)
            nextSeq += 1
            outgoing[request] = Outgoing(key: key, op: queued.op, client: client, issuedAt: now, target: holder, hops: hops)
            send(holder, .forward(ForwardedOp(id: request, key: key, op: queued.op)))
            if queued.op.isWrite, let factor = policy.highestFactor {
                effects.append(.armTimer(.slowWrite(request), at: now + .ms(factor * local.expectedMs)))
            }
        }
    }

    /// The record a redirect carries: Hive's newest, or one naming the hinted stealer.
    func redirectRecord(_ key: BlockKey) -> LeaseRecord? {
        guard let rec = record(key) else { return nil }
        if let hint = blocks[key]?.hint, hint.epoch > rec.epoch {
            return LeaseRecord(
                epoch: hint.epoch, holder: hint.holder, quorumRegions: [map.region(of: hint.holder)],
                state: .stealing, lastActive: rec.state == .active ? rec.term : rec.lastActive)
        }
        return rec
    }

    /// Waits for Hive to name the holder, then dispatches again.
    mutating func park(_ key: BlockKey, _ queued: QueuedOp) {
        var state = blocks[key, default: BlockState()]
        guard state.parked.count < Self.maxQueuedPerBlock else {
            reply(queued.reply, .failed(.busy))
            return
        }
        state.parked.append(queued)
        let ask = !state.lookupInFlight
        state.lookupInFlight = true
        blocks[key] = state
        if ask { _ = hiveCall(key, .get(key)) }
    }

    /// Serves the operation if this node is the block's active holder. Never-moved blocks are
    /// taken up lazily at epoch 0 by the home node, unless it already promised a newer epoch.
    mutating func serveIfHolder(_ key: BlockKey, _ queued: QueuedOp) -> Bool {
        var state = blocks[key, default: BlockState()]
        // A node that restarted may have lost writes it acknowledged but had not synced, so
        // the positions after its copy may exist elsewhere with other writes. It never resumes
        // a term: it takes a new epoch through Hive first (a steal from itself), and the
        // positions it assigns are new (found by the SPIN model, model/README.md).
        if restarted, state.holding == nil, state.steal == nil, let rec = record(key), rec.holder == id, rec.state == .active,
            rec.epoch >= state.promised
        {
            startSteal(key, reason: "restarted: a new epoch before serving again")
            return false
        }
        if state.holding == nil, state.steal == nil, state.route == nil, state.promised == .zero,
            let home = map.homeRecord(of: key), home.holder == id
        {
            state.holding = Holding(epoch: .zero, quorumRegions: home.quorumRegions)
            state.lastHeld = .zero
            blocks[key] = state
            effects.append(.event(.holding(key, .zero)))
        }
        guard let holding = state.holding,
            holding.epoch == state.promised || (mutant == .acceptStaleEpoch && holding.epoch < state.promised)
        else { return false }
        switch queued.op {
        case .write(let write): holderWrite(key, write, reply: queued.reply, holding: holding)
        case .read(let offset, let length): holderRead(key, offset, length, reply: queued.reply, holding: holding)
        }
        return true
    }

    mutating func holderWrite(_ key: BlockKey, _ write: BlockWrite, reply target: ReplyTarget, holding: Holding) {
        var state = blocks[key]!
        // The same write again (a retry after a redirect, a steal that adopted it): answer with
        // where it already is rather than applying it twice.
        if let wid = write.id, let existing = state.recent[wid], existing.version <= state.position.version {
            if var pending = state.holding?.pendingWrites[existing.version], pending.write.id == wid {
                pending.extraReplies.append(target)
                state.holding!.pendingWrites[existing.version] = pending
                blocks[key] = state
            } else {
                reply(target, .written(existing))
            }
            return
        }
        let previous = state.position
        let position = LogPosition(epoch: holding.epoch, version: state.position.version + 1)
        state.position = position
        state.remember(write.id, position)
        effects.append(.persistWrite(key, position, write, durable: write.fua))
        var tally = QuorumTally(regions: holding.quorumRegions, map: map)
        tally.add(id, region: region)
        for node in map.nodes(inRegions: holding.quorumRegions) where node != id {
            send(node, .accept(key, position: position, previous: previous, write: write))
        }
        if tally.isComplete {
            blocks[key] = state
            commit(key, position, write, target)
        } else if mutant == .ackBeforeQuorum {
            blocks[key] = state
            commit(key, position, write, target)
        } else {
            state.holding!.pendingWrites[position.version] = Holding.PendingWrite(
                tally: tally, reply: target, write: write, position: position, startedAt: now)
            blocks[key] = state
        }
    }

    /// The write is on Q2: acknowledge it and stream it to the other allowed regions.
    mutating func commit(_ key: BlockKey, _ position: LogPosition, _ write: BlockWrite, _ target: ReplyTarget) {
        reply(target, .written(position))
        guard let volume = volume(key), let holding = blocks[key]?.holding else { return }
        for other in map.regions where !holding.quorumRegions.contains(other) && volume.allows(other) {
            if let node = map.homeNode(of: other) { send(node, .replicate(key, position: position, write: write)) }
        }
    }

    mutating func holderRead(_ key: BlockKey, _ offset: UInt32, _ length: UInt32, reply target: ReplyTarget, holding: Holding) {
        var tally = QuorumTally(regions: holding.quorumRegions, map: map)
        tally.add(id, region: region)
        if tally.isComplete {
            reply(target, .read(.read(key, offset: offset, length: length)))
            return
        }
        // Several nodes share Q2: confirm with a majority that no newer epoch was promised.
        let nonce = token()
        blocks[key]!.holding!.pendingReads[nonce] = Holding.PendingRead(tally: tally, reply: target, offset: offset, length: length)
        for node in map.nodes(inRegions: holding.quorumRegions) where node != id {
            send(node, .readCheck(key, epoch: holding.epoch, nonce: nonce))
        }
    }

    // MARK: Acceptor side

    mutating func onAccept(_ from: NodeID, _ key: BlockKey, _ position: LogPosition, _ previous: LogPosition, _ write: BlockWrite) {
        var state = blocks[key, default: BlockState()]
        guard position.epoch >= state.promised || mutant == .acceptStaleEpoch else {
            blocks[key] = state
            send(from, .accepted(key, position: position, ok: false, promised: state.promised))
            return
        }
        // Log matching: store only right after the holder's previous entry (a lost accept
        // leaves a hole, and a copy with a hole must never look complete to a stealer). A
        // copy already at `position` answers again (a duplicate).
        if state.position != previous && state.position != position && mutant != .acceptStaleEpoch {
            send(from, .accepted(key, position: position, ok: false, promised: state.promised))
            return
        }
        // Accepting an epoch promises it; the promise is durable before the answer.
        if position.epoch > state.promised { effects.append(.persistPromise(key, position.epoch)) }
        state.promised = max(state.promised, position.epoch)
        blocks[key] = state
        if let h = state.holding, h.epoch < position.epoch { stopHolding(key) }
        // Only a copy that reached past this position holds entries that are now gone.
        if blocks[key]!.position.version >= position.version { blocks[key]!.forgetAfter(position) }
        blocks[key]!.position = position
        blocks[key]!.remember(write.id, position)
        effects.append(.persistWrite(key, position, write, durable: write.fua))
        send(from, .accepted(key, position: position, ok: true, promised: position.epoch))
    }

    mutating func onAccepted(_ from: NodeID, _ key: BlockKey, _ position: LogPosition, ok: Bool, promised: Epoch) {
        guard var holding = blocks[key]?.holding, holding.epoch == position.epoch else { return }
        guard ok else {
            learnPromise(key, promised)
            return
        }
        guard var pending = holding.pendingWrites[position.version] else { return }
        pending.tally.add(from, region: map.region(of: from))
        if pending.tally.isComplete {
            holding.pendingWrites[position.version] = nil
            blocks[key]!.holding = holding
            local.observe((now - pending.startedAt).ms)
            commit(key, position, pending.write, pending.reply)
            for extra in pending.extraReplies { reply(extra, .written(position)) }
        } else {
            holding.pendingWrites[position.version] = pending
            blocks[key]!.holding = holding
        }
    }

    mutating func onReadCheck(_ from: NodeID, _ key: BlockKey, _ epoch: Epoch, _ nonce: UInt64) {
        let promised = blocks[key]?.promised ?? .zero
        send(from, .readChecked(key, epoch: epoch, nonce: nonce, ok: promised <= epoch))
    }

    mutating func onReadChecked(_ from: NodeID, _ key: BlockKey, _ epoch: Epoch, _ nonce: UInt64, ok: Bool) {
        guard var holding = blocks[key]?.holding, holding.epoch == epoch, var pending = holding.pendingReads[nonce] else { return }
        guard ok else {
            learnPromise(key, epoch.next)
            return
        }
        pending.tally.add(from, region: map.region(of: from))
        if pending.tally.isComplete {
            holding.pendingReads[nonce] = nil
            blocks[key]!.holding = holding
            reply(pending.reply, .read(.read(key, offset: pending.offset, length: pending.length)))
        } else {
            holding.pendingReads[nonce] = pending
            blocks[key]!.holding = holding
        }
    }

    /// A Q2 member refused this holder: a newer epoch exists. Stop serving; ask Hive who holds.
    mutating func learnPromise(_ key: BlockKey, _ promised: Epoch) {
        guard let holding = blocks[key]?.holding, holding.epoch < promised else { return }
        stopHolding(key)
        _ = hiveCall(key, .get(key))
        blocks[key]!.lookupInFlight = true
    }

    /// This node no longer serves the block. Operations it had not committed go back to their
    /// origin (peers) or are dispatched again (local clients) to the newer holder.
    mutating func stopHolding(_ key: BlockKey) {
        guard let holding = blocks[key]?.holding else { return }
        blocks[key]!.holding = nil
        effects.append(.event(.fenced(key, blocks[key]!.promised)))
        let waiting = holding.pendingWrites.keys.sorted().map { v in
            let p = holding.pendingWrites[v]!
            return QueuedOp(op: .write(p.write), reply: p.reply)
        } + holding.pendingReads.keys.sorted().map { n in
            let p = holding.pendingReads[n]!
            return QueuedOp(op: .read(offset: p.offset, length: p.length), reply: p.reply)
        }
        for queued in waiting { redispatch(key, queued) }
    }

    /// Hands an operation this node can no longer serve to whoever can.
    mutating func redispatch(_ key: BlockKey, _ queued: QueuedOp) {
        switch queued.reply {
        case .peer: reply(queued.reply, .redirect(redirectRecord(key)))
        case .client: dispatch(key, queued)
        }
    }

    // MARK: Async copies

    mutating func onReplicate(_ key: BlockKey, _ position: LogPosition, _ write: BlockWrite) {
        var state = blocks[key, default: BlockState()]
        // Apply in order only; a copy with a gap stays behind until a transfer fills it.
        guard state.holding == nil, state.steal == nil, position.epoch >= state.promised,
            position.version == state.position.version + 1
        else { return }
        state.position = position
        state.remember(write.id, position)
        blocks[key] = state
        effects.append(.persistWrite(key, position, write, durable: false))
    }

    // MARK: Forwarding (origin side)

    mutating func onForward(_ from: NodeID, _ forwarded: ForwardedOp) {
        blocks[forwarded.key, default: BlockState()].heat.record(
            region: map.region(of: from), isWrite: forwarded.op.isWrite, bytes: UInt64(forwarded.op.length),
            at: hlc.now(physicalMs: wallMs))
        dispatch(forwarded.key, QueuedOp(op: forwarded.op, reply: .peer(from, forwarded.id)))
    }

    mutating func onForwardReply(_ from: NodeID, _ request: RequestID, _ result: ForwardResult) {
        guard var pending = outgoing[request], pending.target == from else { return }
        switch result {
        case .written(let version):
            outgoing[request] = nil
            remoteWriteHolders.insert(from)
            sampleWrite(pending.key, request, pending, exact: true)
            effects.append(.reply(pending.client, .written(version)))
            considerSteal(pending.key)
        case .read(let payload):
            outgoing[request] = nil
            effects.append(.reply(pending.client, .read(payload)))
        case .failed(let error):
            outgoing[request] = nil
            effects.append(.reply(pending.client, .failed(error)))
        case .redirect(let record):
            if let record { learnHint(pending.key, record) }
            pending.hops += 1
            outgoing[request] = pending
            guard pending.hops <= Self.maxHops else {
                outgoing[request] = nil
                effects.append(.reply(pending.client, .failed(.unavailable)))
                return
            }
            if let next = believedHolder(pending.key), next != from, next != id {
                outgoing[request]!.target = next
                send(next, .forward(ForwardedOp(id: request, key: pending.key, op: pending.op)))
            } else if believedHolder(pending.key) == id {
                outgoing[request] = nil
                if pending.op.isWrite { sampleWrite(pending.key, request, pending, exact: true) }
                dispatch(pending.key, QueuedOp(op: pending.op, reply: .client(pending.client)), hops: pending.hops)
            } else {
                // The holder named is the one that refused: wait a little, ask Hive, retry.
                if !(blocks[pending.key]?.lookupInFlight ?? false) {
                    blocks[pending.key, default: BlockState()].lookupInFlight = true
                    _ = hiveCall(pending.key, .get(pending.key))
                }
                effects.append(.armTimer(.forwardRetry(request), at: now + .ms(Double(10 * pending.hops))))
            }
        }
    }

    mutating func retryForward(_ request: RequestID) {
        guard let pending = outgoing.removeValue(forKey: request) else { return }
        dispatch(pending.key, QueuedOp(op: pending.op, reply: .client(pending.client)), hops: pending.hops)
    }

    mutating func sampleWrite(_ key: BlockKey, _ request: RequestID, _ pending: Outgoing, exact: Bool) {
        guard pending.op.isWrite else { return }
        blocks[key, default: BlockState()].heat.sample(
            request, issuedAt: pending.issuedAt, latencyMs: (now - pending.issuedAt).ms, exact: exact)
    }

    mutating func onSlowWriteTimer(_ request: RequestID) {
        guard let pending = outgoing[request] else { return }
        sampleWrite(pending.key, request, pending, exact: false)
        considerSteal(pending.key)
    }

    // MARK: Flush

    /// Every write acknowledged so far must become durable on a majority of its Q2: this
    /// node's region, and the regions of every remote holder written since the last flush.
    mutating func onClientFlush(_ client: ClientRequestID) {
        var regions: Set<RegionID> = [region]
        for holder in remoteWriteHolders { regions.insert(map.region(of: holder)) }
        for volume in map.volumes.values where volume.survive == .region {
            for r in Array(regions) { regions.formUnion(map.quorumRegions(for: r, volume: volume)) }
        }
        remoteWriteHolders.removeAll()
        let sorted = regions.sorted()
        let t = token()
        flushes[t] = PendingFlush(client: client, tally: QuorumTally(regions: sorted, map: map))
        syncWaits[token()] = t
        effects.append(.sync(nextToken - 1))
        for node in map.nodes(inRegions: sorted) where node != id { send(node, .flush(t)) }
    }

    mutating func onSynced(_ syncToken: UInt64) {
        if let flush = syncWaits.removeValue(forKey: syncToken) {
            flushAcked(flush, by: id)
        } else if let (peer, flush) = peerFlushes.removeValue(forKey: syncToken) {
            send(peer, .flushed(flush))
        }
    }

    mutating func flushAcked(_ flush: UInt64, by node: NodeID) {
        guard var pending = flushes[flush] else { return }
        if pending.tally.add(node, region: map.region(of: node)) {
            flushes[flush] = nil
            effects.append(.reply(pending.client, .flushed))
        } else {
            flushes[flush] = pending
        }
    }

    mutating func onPeerFlush(_ from: NodeID, _ flush: UInt64) {
        let t = token()
        peerFlushes[t] = (from, flush)
        effects.append(.sync(t))
    }
}

extension BlockOp {
    /// Offset within the block and length.
    var range: (UInt32, UInt32) {
        switch self {
        case .write(let w): (w.offset, w.length)
        case .read(let offset, let length): (offset, length)
        }
    }
}
