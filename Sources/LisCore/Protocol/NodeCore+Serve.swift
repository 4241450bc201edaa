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
        placement.clientUsed(key, wallMs: wallMs)
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
        // A restarted node knows nothing of where blocks went while it was down; Hive may even
        // name it as the holder. Ask before sending a peer elsewhere with a stale answer.
        if case .peer = queued.reply, restarted, !state.hiveChecked {
            park(key, queued)
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
            forwarder.start(request, Outgoing(key: key, op: queued.op, client: client, issuedAt: now, target: holder, hops: hops))
            sendForward(request)
            if queued.op.isWrite, placement.decidesAtOrigin, let slowAfter = placement.slowAfterMs(localMs: local.expectedMs) {
                effects.append(.armTimer(.slowWrite(request), at: now + .ms(slowAfter)))
            }
        }
    }

    /// The record a redirect carries: Hive's newest, or one naming the hinted stealer.
    func redirectRecord(_ key: BlockKey) -> LeaseRecord? {
        guard let rec = record(key) else { return nil }
        if let hint = blocks[key]?.hint, hint.epoch > rec.epoch {
            return LeaseRecord(
                epoch: hint.epoch, holder: hint.holder, quorumRegions: map.region(of: hint.holder).map { [$0] } ?? [],
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
        // Only what the write path needs is read: a copy of the whole state alive here would
        // share the block's newest-writes table, and the write path's change to it would copy it.
        func term() -> (epoch: Epoch, quorum: [RegionID], promised: Epoch)? {
            peekBlock(key, absent: nil) { s in (s.holding?.epochAndQuorum()).map { ($0.epoch, $0.quorum, s.promised) } }
        }
        var held = term()
        if held == nil, peekBlock(key, absent: true, { $0.steal == nil }) {
            if takeUpIfNamed(key) { return false }
            held = term()
        }
        guard let (epoch, quorum, promised) = held else { return false }
        guard epoch == promised || (mutant == .acceptStaleEpoch && epoch < promised) else { return false }
        observeAtHolder(key, queued)
        switch queued.op {
        case .write(let write): holderWrite(key, write, reply: queued.reply, epoch: epoch, quorum: quorum, sentToEarlierRun: queued.sentToEarlierRun)
        case .read(let offset, let length): holderRead(key, offset, length, reply: queued.reply, epoch: epoch, quorum: quorum)
        }
        return true
    }

    /// A block this node neither serves nor steals: if Hive (or the volume's home) names this
    /// node, it starts serving it, at once at epoch 0 for a never-moved block at home, else
    /// through a new epoch. Returns whether a steal started.
    @discardableResult
    mutating func takeUpIfNamed(_ key: BlockKey) -> Bool {
        if renewOwnClaim(key) { return true }
        let state = blocks[key, default: BlockState()]
        if !restarted, state.route == nil, state.promised == .zero, let home = map.homeRecord(of: key), home.holder == id {
            takeUpAtHome(key, home)
        }
        return false
    }

    /// The newest record this node knows names it, and it promised no newer epoch.
    func isNamedHolder(_ key: BlockKey) -> Bool {
        guard let rec = record(key) else { return false }
        return rec.holder == id && rec.epoch >= (blocks[key]?.promised ?? .zero)
    }

    /// The home node starts holding a never-moved block at epoch 0, from its own copy.
    mutating func takeUpAtHome(_ key: BlockKey, _ home: LeaseRecord) {
        var state = blocks[key, default: BlockState()]
        state.holding = HolderTerm(epoch: .zero, quorumRegions: home.quorumRegions, start: state.position)
        state.lastHeld = .zero
        blocks[key] = state
        effects.append(.event(.holding(key, .zero)))
    }

    /// Hive names this node as the block's holder but it does not serve it and runs no steal:
    /// it restarted (and may have lost writes it acknowledged but had not synced, so it must
    /// never resume a term and reuse its positions — found by the SPIN model), it crashed or
    /// gave up during its own steal, or Hive's answer to its activation was lost. It takes a
    /// new epoch through Hive (a steal from itself), which fences the last active Q2 as any
    /// steal does. A restarted node asks Hive first: its memory of where blocks live is gone.
    /// Returns whether a steal started.
    mutating func renewOwnClaim(_ key: BlockKey) -> Bool {
        guard isNamedHolder(key), let rec = record(key) else { return false }
        let state = blocks[key, default: BlockState()]
        if restarted {
            guard state.hiveChecked else { return false }
        } else if rec.state == .active && state.route == nil && state.promised == .zero {
            return false  // never moved: the home node takes it up lazily at epoch 0
        }
        startSteal(key, reason: rec.state == .stealing ? .renewingStalledClaim : .renewingAfterRestart, renewing: true)
        return true
    }

    mutating func holderWrite(
        _ key: BlockKey, _ write: BlockWrite, reply target: ReplyTarget, epoch: Epoch, quorum: [RegionID], sentToEarlierRun: Bool = false
    ) {
        // The block's state is read where it is and changed in place: a copy taken out to
        // change shares the copy's newest-writes table, and the first change would copy the
        // whole table (`Replica.recentLimit` entries) on every write.
        let (logged, promised, existing) = peekBlock(key, absent: (.empty, .zero, nil)) { s in
            (s.position, s.promised, write.id.flatMap { s.replica.recent[$0] })
        }
        // The same write again (a retry after a redirect, a steal that adopted it): answer with
        // where it already is rather than applying it twice.
        if let wid = write.id, let existing, existing.version <= logged.version {
            if blocks[key]?.holding?.pendingWrites[existing.version]?.write.id == wid {
                blocks[key]?.holding?.pendingWrites[existing.version]?.extraReplies.append(target)
            } else {
                replyWritten(key, target, wid, existing, fua: write.fua)
            }
            return
        }
        // A write an earlier run of this node got, and whose id it does not have: that run may
        // have stored it without logging its id or position (killed before its sync), and the
        // bytes survive in the volume file. Storing it again could put it over newer writes;
        // its outcome is unknown, and the client is told so (EIO) rather than misled.
        if sentToEarlierRun {
            reply(target, .failed(.unavailable))
            return
        }
        let previous = logged
        let position = LogPosition(epoch: epoch, version: logged.version + 1)
        precondition(
            epoch == promised || mutant == .acceptStaleEpoch, "\(id) writes \(key) at \(epoch) having promised \(promised)")
        blocks[key, default: BlockState()].replica.append(key, write, at: position, durable: write.fua, &effects)
        // A quorum of this node alone (a one-node region, the only one the volume asks for) is
        // complete with its own copy: no tally to build per write.
        if map.isAlone(id, in: quorum) {
            commit(key, position, previous: previous, write, target)
            return
        }
        var tally = QuorumTally(regions: quorum, map: map)
        tally.add(id)
        for node in map.nodes(inRegions: quorum) where node != id {
            send(node, .accept(key, position: position, previous: previous, write: write))
        }
        if tally.isComplete || mutant == .ackBeforeQuorum {
            commit(key, position, previous: previous, write, target)
        } else {
            blocks[key]?.holding?.pendingWrites[position.version] = HolderTerm.PendingWrite(
                tally: tally, reply: target, write: write, position: position, previous: previous, startedAt: now)
            armQuorumResend(key)
        }
    }

    mutating func armQuorumResend(_ key: BlockKey) {
        guard let holding = blocks[key]?.holding, !holding.quorumResendArmed else { return }
        blocks[key, default: BlockState()].holding?.quorumResendArmed = true
        effects.append(.armTimer(.quorumResend(key, holding.epoch), at: now + .ms(retryMs)))
    }

    /// Accepts and read checks may be lost, or their answers: ask the Q2 members that have not
    /// answered again, until the write or read completes or this node stops holding.
    mutating func resendQuorum(_ key: BlockKey, _ epoch: Epoch) {
        guard var holding = blocks[key]?.holding, holding.epoch == epoch else { return }
        holding.quorumResendArmed = false
        blocks[key, default: BlockState()].holding = holding
        guard !holding.pendingWrites.isEmpty || !holding.pendingReads.isEmpty else { return }
        let members = map.nodes(inRegions: holding.quorumRegions).filter { $0 != id }
        let (accepts, readChecks) = holding.unanswered(by: members)
        for (node, p) in accepts { send(node, .accept(key, position: p.position, previous: p.previous, write: p.write)) }
        for (node, nonce) in readChecks { send(node, .readCheck(key, epoch: epoch, nonce: nonce)) }
        armQuorumResend(key)
    }

    /// The write is on Q2: acknowledge it and stream it to the other allowed regions.
    mutating func commit(_ key: BlockKey, _ position: LogPosition, previous: LogPosition, _ write: BlockWrite, _ target: ReplyTarget) {
        assert(position <= blocks[key, default: BlockState()].position, "\(id) commits \(key) at \(position) past its log")
        replyWritten(key, target, write.id, position, fua: write.fua)
        guard let quorum = peekBlock(key, absent: nil, { $0.holding?.epochAndQuorum().quorum }) else { return }
        let copies = asyncCopies(key, quorum: quorum)
        for node in copies { send(node, .replicate(key, position: position, previous: previous, write: write)) }
        // A block with no other copy (a one-node cluster) has nothing to repair: no timer per write.
        if !copies.isEmpty || quorum.reduce(0, { $0 + map.nodes(in: $1).count }) > 1 { armRepair(key) }
    }

    /// Acknowledges a write; one acknowledged to a local client is the next flush's to vouch for.
    mutating func replyWritten(_ key: BlockKey, _ target: ReplyTarget, _ write: RequestID?, _ position: LogPosition, fua: Bool) {
        if case .client = target { flush.acknowledged(key, write, position, holder: id, fua: fua) }
        reply(target, .written(position))
    }

    /// One node in every other region the volume allows: they get committed writes in order.
    func asyncCopies(_ key: BlockKey, quorum: [RegionID]) -> [NodeID] {
        guard let volume = volume(key) else { return [] }
        return map.regions.compactMap { other in
            quorum.contains(other) || !volume.allows(other) ? nil : map.homeNode(of: other)
        }
    }

    mutating func holderRead(_ key: BlockKey, _ offset: UInt32, _ length: UInt32, reply target: ReplyTarget, epoch: Epoch, quorum: [RegionID]) {
        var tally = QuorumTally(regions: quorum, map: map)
        tally.add(id)
        if tally.isComplete {
            answerRead(key, offset, length, target)
            return
        }
        // Several nodes share Q2: confirm with a majority that no newer epoch was promised.
        let nonce = token()
        blocks[key, default: BlockState()].holding?.pendingReads[nonce] = HolderTerm.PendingRead(tally: tally, reply: target, offset: offset, length: length)
        for node in map.nodes(inRegions: quorum) where node != id {
            send(node, .readCheck(key, epoch: epoch, nonce: nonce))
        }
        armQuorumResend(key)
    }

    /// The holder may serve the read: its storage has every committed write. It also has the
    /// writes still pending on Q2, which a steal may drop; a read that saw them and was
    /// answered before they commit would show a value that never was (found by the swarm,
    /// seeds 676 and 990). Such a read keeps the bytes it saw and waits for them to commit.
    mutating func answerRead(_ key: BlockKey, _ offset: UInt32, _ length: UInt32, _ target: ReplyTarget) {
        guard let holding = blocks[key]?.holding, !holding.pendingWrites.isEmpty else {
            reply(target, .read(.read(key, offset: offset, length: length)))
            return
        }
        let handle = token()
        effects.append(.holdRead(handle, key, offset: offset, length: length))
        let upTo = blocks[key, default: BlockState()].position.version
        blocks[key, default: BlockState()].holding?.heldReads.append(
            HolderTerm.HeldRead(handle: handle, reply: target, offset: offset, length: length, upTo: upTo))
    }

    /// Answers the held reads whose writes are all committed now.
    mutating func answerHeldReads(_ key: BlockKey) {
        guard let state = blocks[key], var term = state.holding else { return }
        let ready = term.answerableReads(own: state.position)
        blocks[key]?.holding = term
        for read in ready { reply(read.reply, .read(.held(read.handle))) }
    }

    // MARK: Acceptor side

    mutating func onAccept(_ from: NodeID, _ key: BlockKey, _ position: LogPosition, _ previous: LogPosition, _ write: BlockWrite) {
        var state = blocks[key, default: BlockState()]
        guard position.epoch >= state.promised || mutant == .acceptStaleEpoch else {
            blocks[key] = state
            send(from, .accepted(key, position: position, ok: false, promised: state.promised))
            return
        }
        // A copy already at or past this position in the same epoch has the holder's log up to
        // it (log matching): a duplicate or a resend; say where the copy is.
        if state.position.epoch == position.epoch, state.position.version >= position.version, mutant != .acceptStaleEpoch {
            send(from, .accepted(key, position: state.position, ok: true, promised: state.promised))
            return
        }
        // Log matching: store only right after the holder's previous entry (a lost accept
        // leaves a hole, and a copy with a hole must never look complete to a stealer). A
        // copy already at `position` answers again (a duplicate).
        if state.position != previous && mutant != .acceptStaleEpoch {
            send(from, .accepted(key, position: position, ok: false, promised: state.promised))
            return
        }
        // Accepting an epoch promises it; the promise is durable before the answer.
        state.replica.promise(key, position.epoch, &effects)
        blocks[key] = state
        if let h = state.holding, h.epoch < position.epoch { stopHolding(key) }
        precondition(
            blocks[key]?.promised == position.epoch || mutant == .acceptStaleEpoch,
            "\(id) stores \(key) at \(position) having promised \(blocks[key]?.promised ?? .zero)")
        blocks[key, default: BlockState()].replica.append(key, write, at: position, durable: write.fua, &effects)
        send(from, .accepted(key, position: position, ok: true, promised: position.epoch))
    }

    mutating func onAccepted(_ from: NodeID, _ key: BlockKey, _ position: LogPosition, ok: Bool, promised: Epoch) {
        guard let holding = blocks[key]?.holding, holding.epoch == position.epoch else { return }
        guard ok else {
            // A newer epoch: this term is over. A hole: the copy missed accepts; repair it.
            if promised > holding.epoch { learnPromise(key, promised) } else { repairCopy(key, from) }
            return
        }
        copyReached(key, from, position, exact: false)
    }

    /// A copy has this holder's log up to `position` (log matching: an accept is stored only
    /// right after its previous entry, an install makes the copy the holder's log): it counts
    /// for every pending write up to there. Writes complete in order, since a copy that has a
    /// write has every earlier one.
    mutating func copyReached(_ key: BlockKey, _ from: NodeID, _ position: LogPosition, exact: Bool) {
        guard var term = blocks[key]?.holding else { return }
        let done = term.copyReached(from, position, exact: exact)
        blocks[key]?.holding = term
        for pending in done {
            local.observe((now - pending.startedAt).ms)
            commit(key, pending.position, previous: pending.previous, pending.write, pending.reply)
            for extra in pending.extraReplies { replyWritten(key, extra, pending.write.id, pending.position, fua: pending.write.fua) }
        }
        answerHeldReads(key)
    }

    // MARK: Repair (copies that missed writes)

    mutating func armRepair(_ key: BlockKey) {
        guard let holding = blocks[key]?.holding, !holding.repairArmed else { return }
        blocks[key, default: BlockState()].holding?.repairArmed = true
        effects.append(.armTimer(.repair(key, holding.epoch), at: now + .ms(repairIntervalMs)))
    }

    /// Every copy of the block — the other Q2 members and the async copies — must reach the
    /// committed log, whatever messages were lost or nodes restarted on the way. A copy not
    /// known to be there is asked where it is (cheap); one that answers behind what was
    /// committed when it was asked gets what it lacks (`onCopyAt`). Rounds go on until every
    /// copy is known to be caught up.
    mutating func repairCopies(_ key: BlockKey, _ epoch: Epoch) {
        guard let state = blocks[key], var term = state.holding, term.epoch == epoch else { return }
        term.repairArmed = false
        let copies = (map.nodes(inRegions: term.quorumRegions) + asyncCopies(key, quorum: term.quorumRegions)).filter { $0 != id }
        let lagging = term.askLagging(copies, committed: term.committed(state.position))
        blocks[key]?.holding = term
        for node in lagging { send(node, .probeCopy(key, epoch: epoch)) }
        if !lagging.isEmpty { armRepair(key) }
    }

    /// A Q2 member refused an accept because its copy has a hole: send it this holder's log.
    mutating func repairCopy(_ key: BlockKey, _ node: NodeID) {
        guard let holding = blocks[key]?.holding else { return }
        if let sent = holding.repairSentAt[node], (now - sent).ms < retryMs { return }
        sendRepair(key, to: node, after: holding.copies[node] ?? .empty, upTo: blocks[key, default: BlockState()].position)
    }

    mutating func sendRepair(_ key: BlockKey, to node: NodeID, after: LogPosition, upTo: LogPosition) {
        guard let holding = blocks[key]?.holding else { return }
        blocks[key, default: BlockState()].holding?.repairSentAt[node] = now
        send(node, .install(
            key, epoch: holding.epoch, transfer: .transfer(key, after: after, upTo: upTo), after: after, upTo: upTo,
            recent: blocks[key, default: BlockState()].recentRefs))
    }

    mutating func onProbeCopy(_ from: NodeID, _ key: BlockKey, _ epoch: Epoch) {
        let state = blocks[key, default: BlockState()]
        send(from, .copyAt(key, epoch: epoch, position: state.position, promised: state.promised))
    }

    mutating func onCopyAt(_ from: NodeID, _ key: BlockKey, _ epoch: Epoch, _ position: LogPosition, _ promised: Epoch) {
        guard let holding = blocks[key]?.holding, holding.epoch == epoch else { return }
        if promised > epoch {
            learnPromise(key, promised)
            return
        }
        copyReached(key, from, position, exact: true)
        guard let asked = blocks[key]?.holding?.asked.removeValue(forKey: from), let state = blocks[key],
            let committed = state.holding?.committed(state.position)
        else { return }
        if state.holding?.caughtUp(position, asked) == false { sendRepair(key, to: from, after: position, upTo: committed) }
    }

    mutating func onReadCheck(_ from: NodeID, _ key: BlockKey, _ epoch: Epoch, _ nonce: UInt64) {
        let promised = blocks[key]?.promised ?? .zero
        send(from, .readChecked(key, epoch: epoch, nonce: nonce, ok: promised <= epoch))
    }

    mutating func onReadChecked(_ from: NodeID, _ key: BlockKey, _ epoch: Epoch, _ nonce: UInt64, ok: Bool) {
        guard var term = blocks[key]?.holding, term.epoch == epoch, term.pendingReads[nonce] != nil else { return }
        guard ok else {
            learnPromise(key, epoch.next)
            return
        }
        let read = term.readChecked(nonce, by: from)
        blocks[key]?.holding = term
        if let read { answerRead(key, read.offset, read.length, read.reply) }
    }

    /// A Q2 member refused this holder: a newer epoch exists. Stop serving; ask Hive who holds.
    mutating func learnPromise(_ key: BlockKey, _ promised: Epoch) {
        guard let holding = blocks[key]?.holding, holding.epoch < promised else { return }
        stopHolding(key)
        _ = hiveCall(key, .get(key))
        blocks[key, default: BlockState()].lookupInFlight = true
    }

    /// This node no longer serves the block. Operations it had not committed go back to their
    /// origin (peers) or are dispatched again (local clients) to the newer holder.
    mutating func stopHolding(_ key: BlockKey) {
        guard let state = blocks[key], let term = state.holding else { return }
        blocks[key]?.holding = nil
        effects.append(.event(.fenced(key, state.promised)))
        let (waiting, heldHandles) = term.leftOver()
        for handle in heldHandles { effects.append(.dropHeldRead(handle)) }
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

    mutating func onReplicate(_ key: BlockKey, _ position: LogPosition, _ previous: LogPosition, _ write: BlockWrite) {
        var state = blocks[key, default: BlockState()]
        // Apply right after the holder's previous entry only (log matching, as for accepts: a
        // copy may end in a write an old holder never committed); a copy that missed writes
        // stays behind until the holder's repair fills it.
        guard state.holding == nil, state.steal == nil, position.epoch >= state.promised, state.position == previous
        else { return }
        state.replica.append(key, write, at: position, durable: false, &effects)
        blocks[key] = state
    }

    // MARK: Forwarding (origin side)

    mutating func onForward(_ from: NodeID, _ forwarded: ForwardedOp) {
        guard let origin = map.region(of: from) else { return }
        blocks[forwarded.key, default: BlockState()].heat.record(
            region: origin, isWrite: forwarded.op.isWrite, bytes: UInt64(forwarded.op.length),
            at: hlc.now(physicalMs: wallMs))
        let sentToEarlierRun = forwarded.sentEarlier.map { $0 < incarnation } ?? false
        dispatch(forwarded.key, QueuedOp(op: forwarded.op, reply: .peer(from, forwarded.id), sentToEarlierRun: sentToEarlierRun))
    }

    mutating func onForwardReply(_ from: NodeID, _ request: RequestID, _ result: ForwardResult) {
        guard let pending = forwarder[request], pending.target == from else { return }
        switch result {
        case .written(let version):
            forwarder.finish(request)
            if case .write(let write) = pending.op { flush.acknowledged(pending.key, write.id, version, holder: from, fua: write.fua) }
            sampleWrite(pending.key, request, pending, exact: true)
            effects.append(.reply(pending.client, .written(version)))
            considerSteal(pending.key)
        case .read(let payload):
            forwarder.finish(request)
            effects.append(.reply(pending.client, .read(payload)))
        case .failed(let error):
            forwarder.finish(request)
            effects.append(.reply(pending.client, .failed(error)))
        case .redirect(let record):
            if let record { learnHint(pending.key, record) }
            guard let pending = forwarder.redirected(request) else {
                effects.append(.reply(pending.client, .failed(.unavailable)))
                return
            }
            if let next = believedHolder(pending.key), next != from, next != id {
                forwarder.retarget(request, to: next)
                sendForward(request)
            } else if believedHolder(pending.key) == id {
                forwarder.finish(request)
                if pending.op.isWrite { sampleWrite(pending.key, request, pending, exact: true) }
                dispatch(pending.key, QueuedOp(op: pending.op, reply: .client(pending.client)), hops: pending.hops)
            } else {
                // The holder named is the one that refused: wait a little, ask Hive, retry.
                lookUpHolder(pending.key)
                effects.append(.armTimer(.forwardRetry(request), at: now + .ms(Double(10 * pending.hops))))
            }
        }
    }

    /// Sends (again) a forwarded operation to its target, and waits a while for the answer.
    mutating func sendForward(_ request: RequestID) {
        guard let target = forwarder[request]?.target,
            let (pending, earlier) = forwarder.sending(request, targetRun: peerIncarnations[target] ?? 0)
        else { return }
        send(pending.target, .forward(ForwardedOp(id: request, key: pending.key, op: pending.op, sentEarlier: earlier)))
        let wait = 2 * (map.region(of: pending.target).map { map.rttMs(region, $0) } ?? 0) + retryMs
        effects.append(.armTimer(.forwardTimeout(request, attempt: pending.attempt), at: now + .ms(wait)))
    }

    /// No answer: the forward, its answer or the holder was lost. Ask Hive who holds the block
    /// now and send again (a holder recognises a write it already has by its id); give up
    /// after `Forwarder.maxAttempts`. A claim that stays `stealing` for `takeoverMs` while
    /// operations wait is taken over: its stealer is down or cut off.
    mutating func onForwardTimeout(_ request: RequestID, _ attempt: Int) {
        guard let pending = forwarder[request], pending.attempt == attempt else { return }
        guard pending.attempt < Forwarder.maxAttempts else {
            forwarder.finish(request)
            effects.append(.reply(pending.client, .failed(.unavailable)))
            return
        }
        let key = pending.key
        lookUpHolder(key)
        if let rec = record(key), rec.holder != id, blocks[key]?.steal == nil, blocks[key]?.holding == nil,
            volume(key)?.allows(region) == true, mayTakeOver(key, rec)
        {
            startSteal(key, reason: .takingOver(rec.holder), renewing: true)
        }
        if blocks[key]?.steal == nil, let next = believedHolder(key), next != id {
            forwarder.retarget(request, to: next)
            sendForward(request)
        } else {
            forwarder.finish(request)
            dispatch(key, QueuedOp(op: pending.op, reply: .client(pending.client)), hops: pending.hops)
        }
    }

    /// Operations wait on a block another node is named for: take it over if that node's claim
    /// stalled for `takeoverMs`, or its membership lapsed in Hive and a majority of every
    /// region of the last active Q2 is still alive (else the fence cannot complete, and the
    /// block waits for its holder to come back).
    func mayTakeOver(_ key: BlockKey, _ rec: LeaseRecord) -> Bool {
        if rec.state == .stealing, let since = blocks[key]?.routeSince, (now - since).ms >= takeoverMs { return true }
        guard lapsed.contains(rec.holder) else { return false }
        let last = rec.state == .active ? rec.term : rec.lastActive
        return last.quorumRegions.allSatisfy { r in
            let nodes = map.nodes(in: r)
            return 2 * nodes.count { !lapsed.contains($0) } > nodes.count
        }
    }

    mutating func retryForward(_ request: RequestID) {
        guard let pending = forwarder.finish(request) else { return }
        dispatch(pending.key, QueuedOp(op: pending.op, reply: .client(pending.client)), hops: pending.hops)
    }

    mutating func sampleWrite(_ key: BlockKey, _ request: RequestID, _ pending: Outgoing, exact: Bool) {
        guard pending.op.isWrite else { return }
        blocks[key, default: BlockState()].heat.sample(
            request, issuedAt: pending.issuedAt, latencyMs: (now - pending.issuedAt).ms, exact: exact)
    }

    mutating func onSlowWriteTimer(_ request: RequestID) {
        guard let pending = forwarder[request] else { return }
        sampleWrite(pending.key, request, pending, exact: false)
        considerSteal(pending.key)
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
