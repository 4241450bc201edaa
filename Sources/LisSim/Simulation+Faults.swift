@_spi(Simulation) import LisCore

/// A node's wall clock: `now × (1 + drift) + offset`. The core reads it as `wallMs` (for its
/// HLC and the policy's timestamps); timers keep the monotonic `now`, as a real node's
/// monotonic clock does not jump with the wall clock.
struct SimClock {
    var drift = 0.0
    var offsetUs: Int64 = 0

    func wallMs(at now: Instant) -> Int64 {
        let us = now.us + Int64((Double(now.us) * drift).rounded(.down)) + offsetUs
        return us >= 0 ? us / 1000 : (us - 999) / 1000
    }
}

/// A planned fault that happens at an instant (network faults are decided per message).
enum FaultAction {
    case crash([Int], region: RegionID?)
    case restart([Int])
    case clockJump(Int, deltaMs: Double)
    /// Counts a fault that lasts a while when it starts.
    case begins(FaultKind, String)
    /// The end of the safety phase: every crashed node restarts.
    case heal
}

/// One side of a message: a node or Hive.
enum Endpoint: Equatable {
    case node(Int)
    case hive
}

extension HiveRequest {
    var key: BlockKey {
        switch self {
        case .get(let key), .compareAndSet(let key, _, _): key
        }
    }
}

// Fault injection: the plan's timeline, faulty links and Hive, crashes and restarts.
extension Simulation {
    /// The node's wall clock reading now.
    func wallMs(_ n: Int) -> Int64 { nodes[n].clock.wallMs(at: now) }

    func count(_ kind: FaultKind, _ n: Int = 1) { report.faults[kind, default: 0] += n }

    /// Whether a fault window is open at `t`; nothing is open after the safety phase.
    func isActive(_ window: FaultPlan.Window, _ t: Instant) -> Bool {
        guard let plan else { return false }
        return window.contains(t.ms) && t.ms < plan.safetyEndMs
    }

    /// Resolves the plan to node indices and schedules its timeline.
    func install(_ plan: FaultPlan) {
        func index(_ node: NodeID) -> Int {
            guard let i = nodeIndex[node] else { preconditionFailure("fault plan names unknown node \(node)") }
            return i
        }
        let end = plan.safetyEndMs
        partitionSides = plan.partitions.map { p in
            var side = Array(repeating: false, count: nodes.count)
            for node in p.side { side[index(node)] = true }
            return side
        }
        clogWindows = Array(repeating: [], count: nodes.count)
        for clog in plan.clogs where clog.window.startMs < end {
            clogWindows[index(clog.node)].append(clog.window)
            queue.schedule(at: .ms(clog.window.startMs), .fault(.begins(.swizzleClog, "\(clog.node) \(clog.window)")))
        }
        for (i, p) in plan.partitions.enumerated() where p.window.startMs < end {
            let side = p.side.map(\.name).joined(separator: " ") + (p.hiveOnSide ? " hive" : "")
            queue.schedule(at: .ms(p.window.startMs), .fault(.begins(p.kind, "#\(i) {\(side)} \(p.window)")))
        }
        for w in plan.hiveOutages where w.startMs < end {
            queue.schedule(at: .ms(w.startMs), .fault(.begins(.hiveOutage, "\(w)")))
        }
        for crash in plan.crashes where crash.window.startMs < end {
            let victims = crash.nodes.map(index)
            queue.schedule(at: .ms(crash.window.startMs), .fault(.crash(victims, region: crash.region)))
            queue.schedule(at: .ms(min(crash.window.endMs, end)), .fault(.restart(victims)))
        }
        for jump in plan.clockJumps where jump.atMs < end {
            queue.schedule(at: .ms(jump.atMs), .fault(.clockJump(index(jump.node), deltaMs: jump.deltaMs)))
        }
        for (node, drift) in plan.clockDrift.sorted(by: { $0.key < $1.key }) where drift != 0 {
            nodes[index(node)].clock.drift = drift
            count(.clockDrift)
        }
        queue.schedule(at: .ms(end), .fault(.heal))
        flushPeerCrashesLeft = plan.flushCrashes
        flushCrashesLeft = plan.flushCrashes
        stallWindows = Array(repeating: [], count: nodes.count)
        for stall in plan.diskStalls where stall.window.startMs < end {
            stallWindows[index(stall.node)].append((stall.window, stall.extraMs))
            queue.schedule(at: .ms(stall.window.startMs), .fault(.begins(.diskStall, "\(stall.node) \(stall.window) +\(stall.extraMs) ms")))
        }
    }

    /// How much longer node `n`'s syncs take now (`diskStall`).
    func stallMs(_ n: Int) -> Double {
        guard n < stallWindows.count else { return 0 }
        var ms = 0.0
        for (window, extraMs) in stallWindows[n] where isActive(window, now) { ms += extraMs }
        return ms
    }

    /// The `flushCrash` fault at a flush's submission: another node of the region of the holder
    /// of a write it covers loses power (unsynced writes gone) and restarts at once, and the
    /// holder's syncs stall for a while, so the other nodes' syncs answer first.
    func crashPeerBeforeFlush(_ holder: Int) {
        guard flushPeerCrashesLeft > 0, let plan, now.ms < plan.safetyEndMs - 300 else { return }
        let peers = nodes.indices.filter { $0 != holder && nodes[$0].region == nodes[holder].region && nodes[$0].isUp }
        guard !peers.isEmpty else { return }
        flushPeerCrashesLeft -= 1
        count(.flushCrash)
        let victim = peers[Int(faultRandom.next() % UInt64(peers.count))]
        crash(victim, losesUnsynced: true)
        // It is back almost at once (time is compressed here as everywhere in the swarm), so
        // it answers the flush's sync requests with the copy it recovered.
        let restartMs = min(now.ms + faultRandom.unit(), plan.safetyEndMs)
        queue.schedule(at: .ms(restartMs), .fault(.restart([victim])))
        let stall = FaultPlan.Window(startMs: now.ms, endMs: now.ms + 100 + 900 * faultRandom.unit())
        stallWindows[holder].append((stall, 50 + 450 * faultRandom.unit()))
    }

    /// The `flushCrash` fault at a flush's success: the holder of a write it covered loses
    /// power now, before its own sync may have completed.
    func crashAfterFlush(_ holder: Int) {
        guard flushCrashesLeft > 0, let plan, now.ms < plan.safetyEndMs - 300, nodes[holder].isUp else { return }
        flushCrashesLeft -= 1
        count(.flushCrash)
        crash(holder, losesUnsynced: true)
        let restartMs = min(now.ms + 200 + 1800 * faultRandom.unit(), plan.safetyEndMs)
        queue.schedule(at: .ms(restartMs), .fault(.restart([holder])))
    }

    func perform(_ action: FaultAction) {
        switch action {
        case .crash(let victims, let region):
            let up = victims.filter { nodes[$0].isUp }
            if let region, !up.isEmpty {
                count(.regionDown)
                record("\(now.us) fault region-down \(region)")
            }
            for n in up { crash(n) }
        case .restart(let victims):
            for n in victims where !nodes[n].isUp { restart(n) }
        case .clockJump(let n, let deltaMs):
            count(.clockJump)
            nodes[n].clock.offsetUs += Int64((deltaMs * 1000).rounded())
            record("\(now.us) fault clock-jump \(nodes[n].core.id) \(deltaMs) ms → wall \(wallMs(n))")
        case .begins(let kind, let what):
            count(kind)
            record("\(now.us) fault \(kind.rawValue) \(what)")
        case .heal:
            record("\(now.us) fault heal")
            for n in nodes.indices where !nodes[n].isUp { restart(n) }
        }
    }

    // MARK: Crash and restart

    /// Power loss at node `n`: its disk keeps what `SimStorage.crash` says, its pending events
    /// die with its incarnation, and its clients' pending operations fail (their outcome is
    /// unknown to them: the history records them as `info`).
    func crash(_ n: Int, losesUnsynced: Bool? = nil) {
        count(.crash)
        nodes[n].isUp = false
        let plan = self.plan!
        let damage = nodes[n].storage.crash(
            losesUnsynced: losesUnsynced ?? plan.crashLosesUnsynced, tears: plan.crashTearsWrites, random: &faultRandom)
        if !damage.isEmpty { count(.unsyncedLoss) }
        var described: [String] = []
        for d in damage {
            if d.torn { count(.tornWrite) }
            for entry in d.lost { excused.insert(entry.tag) }
            if taintedAt[d.key] == nil { taintedAt[d.key] = historyClock }
            described.append("\(d.key) lost \(d.lost.map { "\($0.tag)@\($0.position)" }.joined(separator: ","))\(d.torn ? " (first torn)" : "")")
        }
        record("\(now.us) fault crash \(nodes[n].core.id)\(described.isEmpty ? "" : ": " + described.joined(separator: "; "))")
        nodes[n].pendingSyncs.removeAll()
        nodes[n].heldReads.removeAll()
        pendingTransferBytes[n] = nil
        for request in nodes[n].clientRequests.sorted() {
            queue.schedule(at: now + .ms(parameters.clientLinkMs), .clientReply(request, .failed(.unavailable)))
        }
        nodes[n].clientRequests.removeAll()
    }

    /// The node starts again from what its disk recovered, as a fresh core that knows it ran
    /// before (so it never resumes a term it held).
    func restart(_ n: Int) {
        let positions = nodes[n].storage.recover()
        var core = NodeCore(id: nodes[n].core.id, map: map, migration: scenario.migration, policy: scenario.policy)
        core.mutant = mutant
        nodes[n].incarnation += 1
        let recent = Dictionary(uniqueKeysWithValues: positions.keys.map { key in
            (key, (nodes[n].storage.logs[key] ?? []).suffix(WriteRef.keptPerBlock).compactMap { entry in
                writeIDs[entry.tag].map { WriteRef(id: $0, position: entry.position) }
            })
        })
        core.restore(
            promises: nodes[n].storage.promises, positions: positions, restarted: true,
            incarnation: UInt64(nodes[n].incarnation), recent: recent)
        nodes[n].core = core
        nodes[n].isUp = true
        // Clients reconnect to a new process: its flushes vouch for writes acknowledged from
        // now on, not for those the crash may have taken (NBD semantics).
        flushSubmitted[n] = ackedAtNode[n].count
        // The HLC lives in memory only, so the check that it never goes back holds per
        // incarnation: a restarted node starts again from its wall clock.
        nodes[n].lastSentHLC = .zero
        record("\(now.us) fault restart \(core.id) wall \(wallMs(n))")
        apply(n, nodes[n].core.start(now: now, wallMs: wallMs(n)), at: now)
    }

    // MARK: Partitions and clogs

    func isOnSide(_ e: Endpoint, of partition: Int) -> Bool {
        switch e {
        case .node(let n): partitionSides[partition][n]
        case .hive: plan!.partitions[partition].hiveOnSide
        }
    }

    /// The partition that stops a message from `from` to `to` at `t`, if any.
    func cut(_ from: Endpoint, _ to: Endpoint, at t: Instant) -> FaultPlan.Partition? {
        guard let plan else { return nil }
        for (i, p) in plan.partitions.enumerated() where isActive(p.window, t) {
            let a = isOnSide(from, of: i)
            let b = isOnSide(to, of: i)
            if p.kind == .asymmetricPartition ? (a && !b) : (a != b) { return p }
        }
        return nil
    }

    /// When a clogged node's traffic at `t` may move again (`t` itself if it is not clogged).
    func unclogged(_ n: Int, _ t: Instant) -> Instant {
        guard let plan else { return t }
        var t = t
        while let w = clogWindows[n].first(where: { isActive($0, t) }) { t = .ms(min(w.endMs, plan.safetyEndMs)) }
        return t
    }

    // MARK: Faulty links

    func strikes(_ fault: FaultPlan.MessageFault?, _ from: Int, _ to: Int, _ t: Instant) -> Bool {
        guard let fault, isActive(fault.window, t) else { return false }
        if let regions = fault.betweenRegions {
            let (a, b) = (nodes[from].region, nodes[to].region)
            guard a != b, regions.contains(a), regions.contains(b) else { return false }
        }
        return faultRandom.unit() < fault.probability
    }

    func extra(_ fault: FaultPlan.MessageFault) -> Duration {
        .ms(fault.extraMs.lowerBound + (fault.extraMs.upperBound - fault.extraMs.lowerBound) * faultRandom.unit())
    }

    /// A peer message on a faulty network: lost, cut by a partition, held by a clog, delayed
    /// (with the messages behind it on the link, as TCP does), reordered past them, or
    /// duplicated. A message to a crashed node is refused.
    func sendWithFaults(from: Int, to: Int, _ envelope: PeerEnvelope, bytes: Int, at: Instant) {
        let plan = self.plan!
        let route = "\(nodes[from].core.id)→\(nodes[to].core.id)"
        guard nodes[to].isUp else {
            record("\(now.us) fault refused \(route): down")
            return
        }
        if strikes(plan.loss, from, to, at) {
            count(.loss)
            record("\(now.us) fault loss \(route) \(envelope.message.kind)")
            return
        }
        let depart = unclogged(from, at)
        let i = from * nodes.count + to
        let sameRegion = nodes[from].region == nodes[to].region
        let bandwidth = sameRegion ? parameters.lanBytesPerMs : parameters.wanBytesPerMs
        let serialised = max(depart, links[i].busyUntil) + .ms(Double(bytes) / bandwidth)
        links[i].busyUntil = serialised
        var arrival = serialised + oneWay(nodes[from].region, nodes[to].region)
        let reordered = strikes(plan.reorder, from, to, at)
        if reordered {
            count(.reorder)
            arrival = unclogged(to, arrival + extra(plan.reorder!))
        } else {
            if strikes(plan.delaySpike, from, to, at) {
                count(.delaySpike)
                arrival = arrival + extra(plan.delaySpike!)
            }
            arrival = max(unclogged(to, arrival), links[i].lastArrival)
            links[i].lastArrival = arrival
        }
        if let p = cut(.node(from), .node(to), at: depart) ?? cut(.node(from), .node(to), at: arrival) {
            record("\(now.us) fault \(p.kind.rawValue) drops \(route) \(envelope.message.kind)")
            return
        }
        let incarnation = nodes[to].incarnation
        queue.schedule(at: arrival, .input(to, incarnation: incarnation, .peer(envelope)))
        if strikes(plan.duplicate, from, to, at) {
            count(.duplicate)
            queue.schedule(at: arrival + extra(plan.duplicate!), .input(to, incarnation: incarnation, .peer(envelope)))
        }
    }

    // MARK: Faulty Hive

    /// A call that cannot reach Hive times out at the caller, as an etcd client does.
    func callHiveWithFaults(_ n: Int, _ call: HiveCallID, _ request: HiveRequest, at sent: Instant) {
        let arrive = sent + oneWay(nodes[n].region, hiveRegion)
        if let p = cut(.node(n), .hive, at: sent) ?? cut(.node(n), .hive, at: arrive) {
            record("\(now.us) fault \(p.kind.rawValue) drops hive call \(nodes[n].core.id) \(call)")
            schedule(n, at: sent + .ms(parameters.hiveTimeoutMs), .hive(call, .unavailable(request.key, reason: "hive unreachable")))
            return
        }
        queue.schedule(at: arrive, .hiveArrive(n, incarnation: nodes[n].incarnation, call, request, sentAt: sent))
    }

    /// Hive's answer and its watch events on a faulty network. An answer that cannot reach
    /// the caller becomes a timeout there, although the call took effect. Watch events to a
    /// crashed node are lost (it reads Hive when it needs to); to a partitioned or clogged
    /// one they wait, in order, until it can be reached (an etcd watch resumes from a revision).
    func answerHiveWithFaults(
        _ n: Int, _ incarnation: Int, _ call: HiveCallID, _ response: HiveResponse, changed: (BlockKey, LeaseRecord)?,
        done: Instant, sentAt: Instant
    ) {
        let arrive = done + oneWay(hiveRegion, nodes[n].region)
        var watchers = nodes.indices.filter { $0 != n }
        if let p = cut(.hive, .node(n), at: done) ?? cut(.hive, .node(n), at: arrive) {
            record("\(now.us) fault \(p.kind.rawValue) drops hive answer to \(nodes[n].core.id) \(call)")
            queue.schedule(
                at: max(done, sentAt + .ms(parameters.hiveTimeoutMs)),
                .input(n, incarnation: incarnation, .hive(call, .unavailable(response.key, reason: "hive unreachable"))))
            // The caller's watch reports its own change once it reconnects.
            if changed != nil { watchers.append(n) }
        } else {
            queue.schedule(at: arrive, .input(n, incarnation: incarnation, .hive(call, response)))
        }
        guard let (key, record) = changed else { return }
        for i in watchers {
            guard nodes[i].isUp else { continue }
            var depart = done
            var arrival = depart + oneWay(hiveRegion, nodes[i].region)
            while let p = cut(.hive, .node(i), at: depart) ?? cut(.hive, .node(i), at: arrival) {
                depart = max(depart, .ms(min(p.window.endMs, plan!.safetyEndMs)))
                arrival = depart + oneWay(hiveRegion, nodes[i].region)
            }
            arrival = max(unclogged(i, arrival), watchLastArrival[i])
            watchLastArrival[i] = arrival
            schedule(i, at: arrival, .hiveWatch(key, record))
        }
    }

    // MARK: History

    /// The history the linearizability check may judge: a block a crash damaged is judged up
    /// to that instant only, because afterwards it may legitimately lack acknowledged writes
    /// that were never flushed. Operations still running then stay pending (unknown outcome).
    public func checkableHistory() -> [HistoryEvent] {
        guard !taintedAt.isEmpty else { return history }
        return history.filter { event in
            guard let cut = taintedAt[event.key] else { return true }
            return event.time <= cut
        }
    }

    /// How many blocks a crash damaged.
    public var taintedBlocks: Int { taintedAt.count }
}

extension HiveResponse {
    var key: BlockKey {
        switch self {
        case .record(let key, _), .swapped(let key, _, _), .unavailable(let key, _): key
        }
    }
}

extension PeerMessage {
    /// The message's case name, for fault lines in the trace.
    var kind: String {
        switch self {
        case .forward: "forward"
        case .forwardReply: "forwardReply"
        case .accept: "accept"
        case .accepted: "accepted"
        case .fence: "fence"
        case .fenced: "fenced"
        case .transferRequest: "transferRequest"
        case .transferReply: "transferReply"
        case .install: "install"
        case .installed: "installed"
        case .replicate: "replicate"
        case .readCheck: "readCheck"
        case .readChecked: "readChecked"
        case .flush: "flush"
        case .flushed: "flushed"
        case .syncCopies: "syncCopies"
        case .copiesSynced: "copiesSynced"
        case .probeCopy: "probeCopy"
        case .copyAt: "copyAt"
        case .handOver: "handOver"
        case .takeBlocks: "takeBlocks"
        case .ping: "ping"
        case .pong: "pong"
        }
    }
}
