// The steal (DESIGN §3): Hive CAS to `stealing` → fence the last active Q2 → transfer what is
// missing and make it durable on this node's Q2 → Hive CAS to `active`. Also the fenced side,
// Hive answers and watches, and the peer message dispatcher.
extension NodeCore {
    mutating func onPeer(_ from: NodeID, _ message: PeerMessage) {
        // A block of a volume this node does not know (yet: a new volume reaches each node's
        // storage and map within a second; or any more) has nothing here to store or answer
        // with: the message is dropped, as if lost, and its sender's retries bring it again.
        if let key = message.block, map.volumes[key.volume] == nil { return }
        switch message {
        case .forward(let op): onForward(from, op)
        case .forwardReply(let request, let result): onForwardReply(from, request, result)
        case .accept(let key, let position, let previous, let write): onAccept(from, key, position, previous, write)
        case .accepted(let key, let position, let ok, let promised): onAccepted(from, key, position, ok: ok, promised: promised)
        case .fence(let key, let epoch, let have): onFence(from, key, epoch, have)
        case .fenced(let key, let epoch, let position, let transfer, let refusedFor, let recent):
            onFenced(from, key, epoch, position, transfer, refusedFor, recent)
        case .transferRequest(let key, let epoch, let have, let upTo): onTransferRequest(from, key, epoch, have, upTo)
        case .transferReply(let key, let epoch, let transfer, let upTo): onTransferReply(from, key, epoch, transfer, upTo)
        case .install(let key, let epoch, let transfer, let after, let upTo, let recent):
            onInstall(from, key, epoch, transfer, after, upTo, recent)
        case .installed(let key, let epoch, let ok, let promised, let position): onInstalled(from, key, epoch, ok, promised, position)
        case .probeCopy(let key, let epoch): onProbeCopy(from, key, epoch)
        case .copyAt(let key, let epoch, let position, let promised): onCopyAt(from, key, epoch, position, promised)
        case .replicate(let key, let position, let previous, let write): onReplicate(key, position, previous, write)
        case .readCheck(let key, let epoch, let nonce): onReadCheck(from, key, epoch, nonce)
        case .readChecked(let key, let epoch, let nonce, let ok): onReadChecked(from, key, epoch, nonce, ok: ok)
        case .flush(let flush, let items): onFlushRequest(from, flush, items)
        case .flushed(let flush, let verdicts): onFlushVerdicts(from, flush, verdicts)
        case .syncCopies(let keys): onSyncCopies(from, keys)
        case .copiesSynced(let copies): onCopiesSynced(from, copies)
        case .handOver(let key, let handOver, let reason, let rates): onHandOver(from, key, handOver, reason, rates)
        case .takeBlocks(let keys): takeRequested(keys, via: from)
        case .ping(let nonce):
            send(from, .pong(nonce, rtts: links.report, hiveMs: links.hiveMs))
        case .pong(let nonce, let rtts, let hiveMs): links.answered(nonce, reports: rtts, hiveMs: hiveMs, at: now)
        }
    }

    // MARK: Deciding

    /// Asks the policy whether to steal the block now, within the rules no policy overrides:
    /// one steal per block, at most `max_concurrent_migrations` per node, the per-block
    /// cooldown, pinning, and never a steal within the holder's own region.
    mutating func considerSteal(_ key: BlockKey) {
        guard placement.decidesAtOrigin, !placementStopped, let state = blocks[key], state.steal == nil, state.holding == nil,
            let volume = volume(key), volume.allows(region),
            stealsInFlight < migration.maxConcurrentMigrations,
            let holder = believedHolder(key), holder != id, map.region(of: holder) != region,
            record(key)?.state == .active
        else { return }
        // A steal under way is never raced by the policy; only a stalled one is taken over.
        if coolingMs(key) != nil { return }
        guard let reason = placement.stealAtOrigin(samples: state.heat.samples, localMs: local.expectedMs, now: now) else { return }
        startSteal(key, reason: reason)
    }

    /// A holder-side policy sees every operation the holder serves; when it wants the block in
    /// another region, the holder asks that region's home node to steal it.
    mutating func observeAtHolder(_ key: BlockKey, _ queued: QueuedOp) {
        guard placement.decidesAtHolder, let volume = volume(key), let index = blocks.index(forKey: key),
            let holding = blocks.values[index].holding.map({ (epoch: $0.epoch, start: $0.start, observed: $0.observed) })
        else { return }
        let origin: RegionID
        switch queued.reply {
        case .client: origin = region
        case .peer(let node, _):
            guard let r = map.region(of: node) else { return }
            origin = r
        }
        let candidates = map.regions.filter { volume.allows($0) }
        // The first operation anyone made on the block (never-used neighbours).
        let firstUse = holding.epoch == .zero && holding.start == .empty && blocks.values[index].position == .empty
            && holding.observed == 0 && !restarted
        defer { if firstUse { onFirstUse(key, by: origin, candidates: candidates) } }
        // The policy sees this node's measured round trips, and each region's to Hive.
        let known = knownRtts
        let hive = Dictionary(uniqueKeysWithValues: candidates.compactMap { r in known.hiveRttMs(r).map { (r, $0) } })
        let operation = ServedOperation(
            key: key, origin: origin, holderRegion: region, candidates: candidates, now: now, rttMs: { known.rttMs($0, $1) },
            costs: MoveCosts(localMs: local.expectedMs, blockBytes: volume.blockSizeBytes, hiveRttMs: hive))
        // The term is changed where it is: taken out and put back, it was copied twice per
        // operation the holder served.
        blocks.values[index].holding!.observed += 1
        let verdict = placement.observeErased(&blocks.values[index].holding!.policyStats, operation)
        if let declined = verdict.declined {
            effects.append(.event(.declined(key, to: declined.to, reason: declined.reason)))
        }
        guard let decision = verdict.handOver, let target = handOverTarget(in: decision.to) else { return }
        if let interval = placement.minHandOverIntervalMs, let last = lastHandOverAt, (now - last).ms < interval { return }
        guard handOver(key, to: target, reason: decision.reason) else {
            if placement.keepsCooldown, let ago = coolingMs(key), var term = blocks[key]?.holding,
                placement.mayExplainErased(&term.policyStats, now: now)
            {
                blocks[key]?.holding = term
                effects.append(.event(.declined(
                    key, to: decision.to, reason: .cooldown(agoMs: ago, cooldownMs: migration.migrationCooldownMs, decision.reason))))
            }
            return
        }
        guard decision.withVolume else { return }
        // The volume moves: its other blocks held here that the policy says go with it, a
        // bounded number, as often as the policy allows.
        let limit = placement.beginGroupMove(key.volume, now: now)
        guard limit > 0 else { return }
        var moved = 0
        for other in blocks.keys.sorted() where other.volume == key.volume && other != key {
            guard moved < limit, var term = blocks[other]?.holding, placement.joinsErased(&term.policyStats, decision, now: now)
            else { continue }
            blocks[other]?.holding = term
            if handOver(other, to: target, reason: .movesWith(key, decision.reason)) { moved += 1 }
        }
    }

    /// How long ago the block last moved or was tried, while that is within the per-block
    /// cooldown (`migration_cooldown_ms`); nil once it has passed.
    func coolingMs(_ key: BlockKey) -> Double? {
        guard let last = blocks[key]?.lastMoveOrAttempt, (now - last).ms < migration.migrationCooldownMs else { return nil }
        return (now - last).ms
    }

    /// Hands a block held here to `target`; false if a rule holds it back: placement paused by
    /// an operator, a policy that keeps the per-block cooldown (the baselines follow their
    /// sources, which have none), and one hand-over at a time per block (a lost one is tried
    /// again later).
    ///
    /// Whoever of the two is nearer Hive claims the block there (PROTOCOL.md "The
    /// hand-over"): this node, then its log goes to the target, which installs it and
    /// activates (one Hive round trip of each, and the log's one way); or the target, which
    /// steals it (two of its own Hive round trips after the request's one way).
    mutating func handOver(_ key: BlockKey, to target: NodeID, reason: MoveReason) -> Bool {
        guard !placementStopped, let state = blocks[key], var holding = state.holding, state.steal == nil, state.handingOver == nil,
            let volume = volume(key), let to = map.region(of: target)
        else { return false }
        if placement.keepsCooldown, coolingMs(key) != nil { return false }
        if let asked = holding.handedOverAt, (now - asked).ms < stealResendMs * 5 { return false }
        lastHandOverAt = now
        holding.handedOverAt = now
        placement.handedOver(key, to: to, now: now)
        // The block's use so far goes with it (`onHandOver`).
        let rates = placement.carriedErased(&holding.policyStats, now: now)
        blocks[key]?.holding = holding
        let known = knownRtts
        let nearer = (known.hiveRttMs(region) ?? .infinity) <= (known.hiveRttMs(to) ?? .infinity)
        guard nearer, let base = record(key), base.state == .active, base.holder == id, base.epoch == holding.epoch else {
            send(target, .handOver(key, .steal(epoch: holding.epoch), reason: reason, rates: rates))
            return true
        }
        // The target's copy as this holder last knew it: the log it is sent starts there (an
        // unknown copy gets the whole log; one that moved on since asks for what it lacks).
        let claim = LeaseRecord(
            epoch: Epoch(max(base.epoch, state.promised).value + 1), holder: target,
            quorumRegions: map.quorumRegions(for: to, volume: volume), state: .stealing, lastActive: base.term,
            stealerPosition: holding.copies[target] ?? .empty)
        let call = hiveCall(key, .compareAndSet(key, expected: state.route, new: claim))
        blocks[key]?.handingOver = HandingOver(call: call, claim: claim, reason: reason, rates: rates)
        return true
    }

    /// Hive answered this holder's claim for the target. Taken: promise it (from here this
    /// node acknowledges nothing more of its term), send the whole log, then stop serving —
    /// the operations it hands back follow the log to the new holder.
    mutating func handOverClaimed(_ key: BlockKey, _ handing: HandingOver, ok: Bool, current: LeaseRecord?) {
        blocks[key]?.handingOver = nil
        guard ok else {
            if let current { learn(key, current) }
            return
        }
        let claim = handing.claim
        guard var state = blocks[key], let holding = state.holding, holding.epoch == claim.lastActive.epoch else {
            // The term ended while the claim was at Hive: the target fences it as any stealer.
            learn(key, claim)
            return
        }
        state.replica.promise(key, claim.epoch, &effects)
        blocks[key] = state
        learn(key, claim)
        let position = state.position
        let transfer: Payload? = position > claim.stealerPosition ? .transfer(key, after: claim.stealerPosition, upTo: position) : nil
        send(claim.holder, .handOver(
            key, .claimed(claim, position: position, transfer: transfer, recent: state.recentRefs), reason: handing.reason,
            rates: handing.rates))
        stopHolding(key)
    }

    /// Predictions: a policy that learns when this node's clients use each block names the
    /// blocks they will likely start using soon; those held in another region and not in use
    /// here now move here, under the rules no policy overrides.
    mutating func predictMoves() {
        effects.append(.armTimer(.predict, at: now + .ms(placement.predictIntervalMs)))
        guard !placementStopped else { return }
        // What the policy needs to price a move here: round trips, this region's to Hive, and
        // every region and block size a block may come from.
        let known = knownRtts
        let pricing = MovePricing(
            here: region, rttMs: { known.rttMs($0, $1) },
            costs: MoveCosts(localMs: local.expectedMs, blockBytes: 0, hiveRttMs: known.hiveRttMs(region).map { [region: $0] } ?? [:]),
            sources: map.volumes.values.flatMap { v in map.regions.map { ($0, v.blockSizeBytes) } })
        let core = self
        let due = placement.predictions(wallMs: wallMs, pricing: pricing) { key in
            guard let volume = core.volume(key), let holder = core.believedHolder(key), let from = core.map.region(of: holder),
                from != core.region
            else { return nil }
            return (from, volume.blockSizeBytes)
        }
        for (key, reason) in due {
            guard stealsInFlight < migration.maxConcurrentMigrations else { return }
            guard let volume = volume(key), volume.allows(region) else { continue }
            let state = blocks[key, default: BlockState()]
            guard state.steal == nil, state.holding == nil, let holder = believedHolder(key), map.region(of: holder) != region,
                record(key)?.state == .active
            else { continue }
            if coolingMs(key) != nil { continue }
            startSteal(key, reason: reason)
            blocks[key, default: BlockState()].steal?.reservedMs = placement.predictReserveMs
        }
    }

    /// The holder wants this node to take the block. Asked to steal it: do, under the rules no
    /// policy overrides (pinning is Hive's to refuse; one steal per block; the per-node limit).
    /// Claimed for it: install the holder's log (the claim is Hive's record, so this node may
    /// already have adopted it from the watch) and activate.
    mutating func onHandOver(_ from: NodeID, _ key: BlockKey, _ handOver: HandOver, _ reason: MoveReason, _ rates: RegionRates) {
        // The block's use so far goes with it: a new term that started empty would see only
        // the operations since it arrived, and a block shared by two regions would look like
        // one region's, and go back.
        var received = rates
        received.at = now
        switch handOver {
        case .steal(let epoch):
            guard let volume = volume(key), volume.allows(region), stealsInFlight < migration.maxConcurrentMigrations,
                !drained.contains(id)
            else { return }
            let state = blocks[key, default: BlockState()]
            guard state.steal == nil, state.holding == nil, state.promised <= epoch else { return }
            // A stale route is fine: Hive refuses the claim with its record, and the steal
            // retries against it once.
            startSteal(key, reason: .handedOver(by: from, reason))
            blocks[key]?.steal?.rates = received
        case .claimed(let claim, let position, let transfer, let recent):
            guard claim.holder == id, claim.state == .stealing, claim.lastActive.holder == from else { return }
            learn(key, claim)
            guard var steal = blocks[key]?.steal, steal.claim.epoch == claim.epoch else { return }
            steal.reason = .handedOver(by: from, reason)
            steal.rates = received
            blocks[key]?.steal = steal
            // Past the fence already (the term's acceptors answered first): nothing to add.
            guard steal.phase.fencing != nil else { return }
            fenceComplete(key, holderLog: (from, position, transfer, recent))
        }
    }

    /// Hive names this node in a claim it has not acted on: a holder claimed the block for it
    /// (its log is on the way), or Hive's answer to this node's own claim was lost. The claim
    /// is this node's to finish: promise it and wait for the promises of the last active
    /// term's Q2 (its acceptors answer the watch), fencing them itself only if they have not
    /// answered by the next resend.
    mutating func adoptClaim(_ key: BlockKey, _ claim: LeaseRecord) {
        var state = blocks[key, default: BlockState()]
        state.replica.promise(key, claim.epoch, &effects)
        state.steal = Steal(
            phase: .fencing(Steal.Fencing(tally: QuorumTally(regions: claim.lastActive.quorumRegions, map: map))),
            expected: nil, claim: claim, reason: .adoptingClaim, startedAt: now, casRetries: 0)
        state.lastMoveOrAttempt = now
        blocks[key] = state
        stealsInFlight += 1
        effects.append(.event(.stealStarted(key, from: claim.lastActive.holder, reason: .adoptingClaim)))
        effects.append(.armTimer(.stealResend(key, claim.epoch), at: now + .ms(stealResendMs)))
    }

    /// `renewing`: the steal only renews a claim (this node's own after a restart, or a stalled
    /// one); it does not turn into a steal from whoever Hive says holds the block instead.
    mutating func startSteal(_ key: BlockKey, reason: MoveReason, renewing: Bool = false) {
        guard let volume = volume(key), let base = record(key) else { return }
        var state = blocks[key, default: BlockState()]
        precondition(state.steal == nil && state.holding == nil, "\(id) steals \(key) while stealing or holding it")
        let expected = state.route
        let claim = LeaseRecord(
            epoch: Epoch(max(base.epoch, state.promised).value + 1), holder: id,
            quorumRegions: map.quorumRegions(for: region, volume: volume), state: .stealing,
            lastActive: base.state == .active ? base.term : base.lastActive, stealerPosition: state.position)
        let call = hiveCall(key, .compareAndSet(key, expected: expected, new: claim))
        state.steal = Steal(
            phase: .claiming(call, Steal.Fencing(tally: QuorumTally(regions: claim.lastActive.quorumRegions, map: map))),
            expected: expected, claim: claim, reason: reason, startedAt: now, casRetries: renewing ? 0 : 1)
        state.lastMoveOrAttempt = now
        blocks[key] = state
        stealsInFlight += 1
        effects.append(.event(.stealStarted(key, from: base.holder, reason: reason)))
    }

    // MARK: Hive

    mutating func onHive(_ call: HiveCallID, _ response: HiveResponse) {
        guard let key = hiveCalls.removeValue(forKey: call) else { return }
        // Hive's own answers time the round trip; a refusal for an outage does not.
        if case .unavailable = response { links.hiveAnswered(call, at: now, measured: false) } else { links.hiveAnswered(call, at: now, measured: true) }
        switch response {
        case .record(_, let record):
            if let record { learn(key, record) }
            blocks[key, default: BlockState()].lookupInFlight = false
            blocks[key, default: BlockState()].hiveChecked = true
            let parked = blocks[key, default: BlockState()].parked
            blocks[key, default: BlockState()].parked.removeAll()
            for queued in parked { dispatch(key, queued) }
            flushWaitsChanged(key)
        case .swapped(_, let ok, let current):
            onSwapped(key, call, ok: ok, current: current)
        case .unavailable(_, let reason):
            if let handing = blocks[key]?.handingOver, handing.call == call {
                // The claim may have reached Hive: then the target adopts it from the watch and
                // fences this term like any stealer. This node serves on until fenced.
                blocks[key]?.handingOver = nil
            } else if let steal = blocks[key]?.steal, steal.phase.isClaim(call) {
                abandonSteal(key, reason: .hiveUnavailable(reason))
            } else if let steal = blocks[key]?.steal, steal.phase.isActivation(call) {
                // The claim is ours and the block is durable here: keep asking to activate.
                activate(key)
            } else {
                blocks[key]?.lookupInFlight = false
                let parked = blocks[key]?.parked ?? []
                blocks[key]?.parked.removeAll()
                for queued in parked { reply(queued.reply, .failed(.unavailable)) }
            }
        }
    }

    mutating func onSwapped(_ key: BlockKey, _ call: HiveCallID, ok: Bool, current: LeaseRecord?) {
        if let handing = blocks[key]?.handingOver, handing.call == call {
            handOverClaimed(key, handing, ok: ok, current: current)
            return
        }
        guard var steal = blocks[key]?.steal else { return }
        switch steal.phase {
        case .claiming(call, let fencing):
            guard ok else {
                // A stale cache is the usual cause: try once more against Hive's record. The
                // retry's claim is newer than that record, so learning it after does not end
                // the steal (learning it first did, and the retry then ran uncounted).
                if steal.casRetries > 0, let current, current.state == .active, current.holder != id,
                    map.region(of: current.holder) != region
                {
                    steal.casRetries -= 1
                    steal.expected = current
                    steal.claim.epoch = Epoch(max(current.epoch, blocks[key, default: BlockState()].promised).value + 1)
                    steal.claim.lastActive = current.term
                    steal.phase = .claiming(
                        hiveCall(key, .compareAndSet(key, expected: current, new: steal.claim)),
                        Steal.Fencing(tally: QuorumTally(regions: current.quorumRegions, map: map)))
                    blocks[key, default: BlockState()].steal = steal
                    learn(key, current)
                } else {
                    if let current { learn(key, current) }
                    abandonSteal(key, reason: .claimRefused(current: current))
                }
                return
            }
            learn(key, steal.claim)
            steal.phase = .fencing(fencing)
            blocks[key, default: BlockState()].steal = steal
            fence(key)
        case .activating(call, let copies):
            var active = steal.claim
            active.state = .active
            active.lastActive = active.term
            // An earlier activation succeeded but its answer was lost (a retry finds it done).
            guard ok || current == active else {
                if let current { learn(key, current) }
                abandonSteal(key, reason: .activationRefused(current: current))
                return
            }
            finishSteal(key, steal, copies: copies)
        default:
            return
        }
    }

    /// Learns a record from Hive (a response or the watch). A newer active record means the
    /// block moved: its cooldown starts and its old latency samples no longer apply.
    mutating func learn(_ key: BlockKey, _ record: LeaseRecord) {
        var state = blocks[key, default: BlockState()]
        let old = state.route
        if let old, record.epoch < old.epoch || (record.epoch == old.epoch && record.state != .active) { return }
        if old != record { state.routeSince = now }
        state.route = record
        state.hiveChecked = true
        if record.state == .active, old?.epoch != record.epoch || old?.state != .active {
            state.lastMoveOrAttempt = max(state.lastMoveOrAttempt ?? now, now)
            state.heat.clearSamples()
        }
        blocks[key] = state
        // A claim alone fences nothing (the stealer's fence does); a newer active record means
        // this node's term is over.
        if let h = state.holding, record.state == .active, h.epoch < record.epoch, record.holder != id, mutant != .noFence {
            stopHolding(key)
        }
        // Someone took over this node's claim: its steal can no longer finish.
        if let steal = state.steal, record.epoch > steal.claim.epoch {
            abandonSteal(key, reason: .superseded(record))
        }
        // A claim on a term this node is an acceptor of: the watch is as good as the stealer's
        // fence (Hive says the epoch is the stealer's), and usually much closer.
        if record.state == .stealing, record.holder != id, record.epoch > state.promised,
            map.nodes(inRegions: record.lastActive.quorumRegions).contains(id)
        {
            onFence(record.holder, key, record.epoch, record.stealerPosition)
        }
        // A claim naming this node that it never promised is its to finish.
        if record.state == .stealing, record.holder == id, record.epoch > state.promised, state.holding == nil,
            blocks[key]?.steal == nil, volume(key)?.allows(region) == true
        {
            adoptClaim(key, record)
        }
    }

    mutating func learnHint(_ key: BlockKey, _ record: LeaseRecord) {
        var state = blocks[key, default: BlockState()]
        if let route = state.route, route.epoch >= record.epoch { return }
        if let hint = state.hint, hint.epoch >= record.epoch { return }
        state.hint = (record.holder, record.epoch)
        blocks[key] = state
    }

    // MARK: Fencing

    mutating func fence(_ key: BlockKey) {
        guard var steal = blocks[key]?.steal, case .fencing(var fencing) = steal.phase else { return }
        let epoch = steal.claim.epoch
        // This node promises its own claim first: it is a member of its own Q2.
        blocks[key, default: BlockState()].replica.promise(key, epoch, &effects)
        let targets = map.nodes(inRegions: steal.claim.lastActive.quorumRegions)
        if targets.contains(id) {
            fencing.tally.add(id)
            fencing.replies[id] = blocks[key, default: BlockState()].position
        }
        steal.phase = .fencing(fencing)
        blocks[key, default: BlockState()].steal = steal
        for node in targets where node != id && fencing.replies[node] == nil {
            send(node, .fence(key, epoch: epoch, have: blocks[key, default: BlockState()].position))
        }
        effects.append(.armTimer(.stealResend(key, epoch), at: now + .ms(stealResendMs)))
        if fencing.tally.isComplete { fenceComplete(key) }
    }

    /// An acceptor's side: promise the newer epoch, stop serving, report what it has.
    mutating func onFence(_ from: NodeID, _ key: BlockKey, _ epoch: Epoch, _ have: LogPosition) {
        var state = blocks[key, default: BlockState()]
        guard epoch >= state.promised else {
            send(from, .fenced(key, epoch: epoch, position: state.position, transfer: nil, refusedFor: state.promised))
            return
        }
        let wasHolder = state.holding != nil
        let heldBefore = state.lastHeld != nil
        state.replica.promise(key, epoch, &effects)
        if state.hint.map({ $0.epoch < epoch }) ?? true { state.hint = (from, epoch) }
        if mutant == .noFence, let holding = state.holding {
            // The protection removed: answer the fence but go on serving the old epoch.
            state.replica.mutantForgetPromise(holding.epoch)
        }
        blocks[key] = state
        if wasHolder && mutant != .noFence && mutant != .acceptStaleEpoch { stopHolding(key) }
        let position = blocks[key, default: BlockState()].position
        // A former holder sends what the stealer lacks right away, saving a round trip; other
        // acceptors only report their position.
        let transfer: Payload? = heldBefore && position > have ? .transfer(key, after: have, upTo: position) : nil
        send(from, .fenced(key, epoch: epoch, position: position, transfer: transfer, refusedFor: nil, recent: blocks[key, default: BlockState()].recentRefs))
        // Operations queued here for a steal this node lost go to the new holder.
        if state.steal == nil {
            let queued = blocks[key, default: BlockState()].queue
            blocks[key, default: BlockState()].queue.removeAll()
            for op in queued { redispatch(key, op) }
        }
    }

    mutating func onFenced(
        _ from: NodeID, _ key: BlockKey, _ epoch: Epoch, _ position: LogPosition, _ transfer: Payload?, _ refusedFor: Epoch?,
        _ recent: [WriteRef]
    ) {
        // A promise may arrive before Hive's answer to the claim: an acceptor saw the claim
        // through the watch. Keep it until the claim is confirmed.
        guard var steal = blocks[key]?.steal, steal.claim.epoch == epoch else { return }
        if let refusedFor {
            abandonSteal(key, reason: .fenceRefused(by: from, promised: refusedFor))
            return
        }
        let complete: Bool
        switch steal.phase {
        case .claiming(let call, var fencing):
            _ = fencing.promised(from, at: position, recent: recent, transfer: transfer)
            steal.phase = .claiming(call, fencing)
            complete = false
        case .fencing(var fencing):
            complete = fencing.promised(from, at: position, recent: recent, transfer: transfer)
            steal.phase = .fencing(fencing)
        default:
            return
        }
        blocks[key, default: BlockState()].steal = steal
        if complete { fenceComplete(key) }
    }

    /// A majority of the last active Q2 promised: every acknowledged write is at or below the
    /// highest position they reported. Get the bytes up to it, then install.
    ///
    /// `holderLog`: the last active holder's whole log instead (a hand-over it claimed for this
    /// node): it stopped serving when it promised, and its log holds every write it
    /// acknowledged, which is what the majority's promises establish.
    mutating func fenceComplete(
        _ key: BlockKey, holderLog: (from: NodeID, position: LogPosition, transfer: Payload?, recent: [WriteRef])? = nil
    ) {
        guard var steal = blocks[key]?.steal, var fencing = steal.phase.fencing else { return }
        if let log = holderLog {
            fencing.replies = [log.from: log.position]
            fencing.recent = [log.from: log.recent]
            fencing.transfer = log.transfer.map { ($0, log.position) }
        } else {
            guard case .fencing = steal.phase else { return }
        }
        let best = fencing.best
        // The writes in the adopted history: those of a replier whose copy is that history.
        if let source = fencing.replies.keys.sorted().first(where: { fencing.replies[$0] == best && $0 != id }) {
            blocks[key, default: BlockState()].replica.adoptRecent(fencing.recent[source] ?? [], upTo: best)
        }
        let mine = blocks[key, default: BlockState()].position
        // A transfer sent ahead is the sender's log after the copy the claim names (or its
        // whole log); it fits only a copy that is still there.
        let fits = steal.claim.stealerPosition == .empty || steal.claim.stealerPosition == mine
        if mine == best || mutant == .skipTransfer {
            install(key, payload: nil, upTo: mine)
        } else if let transfer = fencing.transfer, transfer.upTo == best, fits {
            install(key, payload: transfer.payload, upTo: best)
        } else {
            // Pull from the nearest copy that has the best position, by the measured round trips.
            let known = knownRtts
            let sources = fencing.replies.keys.filter { fencing.replies[$0] == best && $0 != id }
            guard let source = sources.min(by: { a, b in
                let (ra, rb) = (rttMs(to: a, known), rttMs(to: b, known))
                return ra != rb ? ra < rb : a < b
            }) else {
                // Only this node reported the best position, and its copy is no longer there.
                abandonSteal(key, reason: .copyChanged(reported: best, now: mine))
                return
            }
            steal.phase = .transferring(source: source, upTo: best)
            blocks[key, default: BlockState()].steal = steal
            send(source, .transferRequest(key, epoch: steal.claim.epoch, have: mine, upTo: best))
        }
    }

    mutating func onTransferRequest(_ from: NodeID, _ key: BlockKey, _ epoch: Epoch, _ have: LogPosition, _ upTo: LogPosition) {
        let state = blocks[key, default: BlockState()]
        guard state.promised <= epoch else {
            // A newer steal fenced this node: the asker's steal cannot finish; say so.
            send(from, .fenced(key, epoch: epoch, position: state.position, transfer: nil, refusedFor: state.promised))
            return
        }
        // The copy the stealer counted on is gone (this node restarted and lost writes it had
        // not synced): its steal cannot finish this way; it renews its claim and fences again.
        guard state.position == upTo else {
            send(from, .fenced(key, epoch: epoch, position: state.position, transfer: nil, refusedFor: state.promised))
            return
        }
        send(from, .transferReply(key, epoch: epoch, transfer: .transfer(key, after: have, upTo: upTo), upTo: upTo))
    }

    mutating func onTransferReply(_ from: NodeID, _ key: BlockKey, _ epoch: Epoch, _ transfer: Payload, _ upTo: LogPosition) {
        guard let steal = blocks[key]?.steal, steal.claim.epoch == epoch,
            case .transferring(from, upTo) = steal.phase
        else { return }
        install(key, payload: transfer, upTo: upTo)
    }

    // MARK: Installing on the new Q2

    mutating func install(_ key: BlockKey, payload: Payload?, upTo: LogPosition) {
        guard var steal = blocks[key]?.steal else { return }
        blocks[key, default: BlockState()].replica.install(key, payload, upTo: upTo, recent: nil, &effects)
        var tally = QuorumTally(regions: steal.claim.quorumRegions, map: map)
        tally.add(id)
        steal.phase = .installing(Steal.Installing(upTo: upTo, tally: tally))
        blocks[key, default: BlockState()].steal = steal
        for node in map.nodes(inRegions: steal.claim.quorumRegions) where node != id {
            send(node, .install(
                key, epoch: steal.claim.epoch, transfer: .transfer(key, after: .empty, upTo: upTo), after: .empty, upTo: upTo,
                recent: blocks[key, default: BlockState()].recentRefs))
        }
        if tally.isComplete { activate(key) }
    }

    /// Stores the sender's log up to `upTo` under `epoch` (a steal's install, or a holder's
    /// repair). `transfer` is the sender's log after `after`, so it applies only to a copy that
    /// has the sender's log up to `after`; a copy already at or past `upTo` in the same epoch
    /// keeps what it has (a duplicate or a late repair must never take a copy back).
    mutating func onInstall(
        _ from: NodeID, _ key: BlockKey, _ epoch: Epoch, _ transfer: Payload, _ after: LogPosition, _ upTo: LogPosition,
        _ recent: [WriteRef]
    ) {
        var state = blocks[key, default: BlockState()]
        guard epoch >= state.promised else {
            send(from, .installed(key, epoch: epoch, ok: false, promised: state.promised, position: state.position))
            return
        }
        let have = state.position
        // Entries of `epoch` come only from its holder, so such a copy already has its log up to
        // any earlier point, whatever epoch `upTo` names.
        let already = have == upTo || (have.epoch == epoch && have.version >= upTo.version)
        let applies = after == .empty || have == after || (have.epoch == after.epoch && have.version >= after.version)
        guard already || applies else {
            send(from, .installed(key, epoch: epoch, ok: false, promised: state.promised, position: have))
            return
        }
        state.replica.promise(key, epoch, &effects)
        blocks[key] = state
        if let h = state.holding, h.epoch < epoch { stopHolding(key) }
        // Durable either way: a steal counts this copy as its Q2's.
        precondition(blocks[key]?.promised == epoch, "\(id) installs \(key) for \(epoch) having promised \(blocks[key]?.promised ?? .zero)")
        if already {
            blocks[key, default: BlockState()].replica.install(key, nil, upTo: have, recent: nil, &effects)
        } else {
            blocks[key, default: BlockState()].replica.install(key, transfer, upTo: upTo, recent: recent, &effects)
        }
        send(from, .installed(key, epoch: epoch, ok: true, promised: epoch, position: blocks[key]?.position ?? .empty))
    }

    mutating func onInstalled(
        _ from: NodeID, _ key: BlockKey, _ epoch: Epoch, _ ok: Bool, _ promised: Epoch, _ position: LogPosition
    ) {
        if let holding = blocks[key]?.holding, holding.epoch == epoch {
            // A repair's answer.
            if !ok && promised > epoch { learnPromise(key, promised) } else { copyReached(key, from, position, exact: true) }
            return
        }
        guard var steal = blocks[key]?.steal, steal.claim.epoch == epoch, case .installing(var installing) = steal.phase else { return }
        guard ok else {
            abandonSteal(key, reason: .installRefused(by: from, promised: promised))
            return
        }
        installing.tally.add(from)
        installing.copies[from] = position
        steal.phase = .installing(installing)
        blocks[key, default: BlockState()].steal = steal
        if installing.tally.isComplete { activate(key) }
    }

    mutating func activate(_ key: BlockKey) {
        guard var steal = blocks[key]?.steal else { return }
        var active = steal.claim
        active.state = .active
        active.lastActive = active.term
        let copies: [NodeID: LogPosition]
        switch steal.phase {
        case .installing(let installing): copies = installing.copies
        case .activating(_, let reached): copies = reached
        default: preconditionFailure("\(id) activates \(key) before installing it")
        }
        steal.phase = .activating(hiveCall(key, .compareAndSet(key, expected: steal.claim, new: active)), copies: copies)
        blocks[key, default: BlockState()].steal = steal
    }

    /// Hive says the block is active here: serve it, and everything that waited for it.
    mutating func finishSteal(_ key: BlockKey, _ steal: Steal, copies: [NodeID: LogPosition]) {
        var active = steal.claim
        active.state = .active
        active.lastActive = active.term
        var state = blocks[key, default: BlockState()]
        precondition(state.holding == nil, "\(id) activates \(key) at \(active.epoch) while holding it")
        state.steal = nil
        state.route = active
        state.hint = nil
        // The install is on the disks of a majority of every Q2 region: the watermark starts there.
        var holding = HolderTerm(
            epoch: active.epoch, quorumRegions: active.quorumRegions, start: state.position, copies: copies,
            durableVersion: state.position.version)
        holding.policyStats = placement.startTermErased(carried: steal.rates, reservedUntil: steal.reservedMs.map { now + .ms($0) })
        state.holding = holding
        state.lastHeld = active.epoch
        state.lastMoveOrAttempt = now
        state.heat.clearSamples()
        let queued = state.queue
        state.queue.removeAll()
        blocks[key] = state
        stealsInFlight -= 1
        assert(stealsInFlight >= 0, "\(id): more steals ended than started")
        effects.append(.event(.holding(key, active.epoch)))
        effects.append(.event(.moved(
            key, epoch: active.epoch, from: steal.claim.lastActive.holder, stealMs: (now - steal.startedAt).ms,
            reason: steal.reason)))
        armRepair(key)
        for op in queued { dispatch(key, op) }
        flushWaitsChanged(key)
    }

    mutating func abandonSteal(_ key: BlockKey, reason: StealEnd) {
        guard blocks[key]?.steal != nil else { return }
        blocks[key, default: BlockState()].steal = nil
        stealsInFlight -= 1
        assert(stealsInFlight >= 0, "\(id): more steals ended than started")
        effects.append(.event(.stealAbandoned(key, reason: reason)))
        let queued = blocks[key, default: BlockState()].queue
        blocks[key, default: BlockState()].queue.removeAll()
        for op in queued { redispatch(key, op) }
    }

    /// Messages of a steal may be lost: resend what is still unanswered.
    mutating func resendSteal(_ key: BlockKey, _ epoch: Epoch) {
        guard let steal = blocks[key]?.steal, steal.claim.epoch == epoch else { return }
        switch steal.phase {
        case .fencing:
            fence(key)
        case .transferring(let source, let upTo):
            send(source, .transferRequest(key, epoch: epoch, have: blocks[key, default: BlockState()].position, upTo: upTo))
            effects.append(.armTimer(.stealResend(key, epoch), at: now + .ms(stealResendMs)))
        case .installing(let installing):
            for node in map.nodes(inRegions: steal.claim.quorumRegions) where node != id {
                send(node, .install(
                    key, epoch: epoch, transfer: .transfer(key, after: .empty, upTo: installing.upTo), after: .empty,
                    upTo: installing.upTo, recent: blocks[key, default: BlockState()].recentRefs))
            }
            effects.append(.armTimer(.stealResend(key, epoch), at: now + .ms(stealResendMs)))
        case .claiming, .activating:
            effects.append(.armTimer(.stealResend(key, epoch), at: now + .ms(stealResendMs)))
        }
    }
}
