import Foundation
@_spi(Simulation) import LisCore

/// Runs LisCore nodes for a whole scenario on one thread and a virtual clock: a seeded event
/// queue, a region latency matrix with jitter and link bandwidth, simulated disks, a
/// linearizable Hive located in one region, and online safety checks (DESIGN §2 "LisSim").
///
/// Same scenario, seed, parameters and fault plan → the same event trace, byte for byte
/// (`digest`). Without a plan nothing fails: links, disks, clocks and Hive are perfect.
/// Watches a run as it goes (the dashboard of `lis sim run --serve`). Called on the thread
/// that runs the simulation, in event order; it must not change the run.
public protocol SimulationObserver: AnyObject {
    /// A client's operation was answered (or failed) at `atMs`, after `latencyMs`.
    func answered(_ op: TraceOp, node: NodeID, blocks: ClosedRange<UInt64>?, latencyMs: Double, failed: Bool, atMs: Double)
    func event(_ event: NodeEvent, node: NodeID, region: RegionID, atMs: Double)
}

public final class Simulation {
    enum Event {
        case traceOp(Int)
        /// An input for a node's incarnation; a node that crashed since never sees it.
        case input(Int, incarnation: Int, NodeInput)
        case hiveArrive(Int, incarnation: Int, HiveCallID, HiveRequest, sentAt: Instant)
        case clientReply(ClientRequestID, ClientResult)
        case fault(FaultAction)
        /// The oracle's schedule: node `n` steals the block now.
        case take(Int, BlockKey, reason: String)
    }

    struct SimNode {
        var core: NodeCore
        var storage = SimStorage()
        var region: RegionID
        /// The HLC of the last message this incarnation sent.
        var lastSentHLC: HLCTimestamp = .zero
        /// Incremented at each restart: events meant for an earlier incarnation are dropped.
        var incarnation = 0
        var isUp = true
        var clock = SimClock()
        /// Sync tokens of this incarnation and how far each makes the store durable.
        var pendingSyncs: [UInt64: UInt64] = [:]
        /// Client parts submitted here that the node has not answered: a crash fails them.
        var clientRequests: Set<ClientRequestID> = []
        /// The tags reads saw, held until the core answers them (`NodeEffect.holdRead`).
        var heldReads: [UInt64: (tag: UInt64, length: UInt32)] = [:]
    }

    struct ClientOp {
        var index: Int
        var remaining: Int
        /// The node the client is attached to.
        var node: Int
        var failed = false
        var local = true
        /// Whether its invocation is in the history (single-block reads and writes).
        var recorded = false
        /// For a flush: the node's acknowledged writes it covers, `flushFrom..<flushCovers` —
        /// those acknowledged since the node's previous flush was submitted. A flush that fails
        /// (a node restarted and may have lost some) reports it once, as fsync does; the next
        /// flush vouches only for the writes after it.
        var flushFrom = 0
        var flushCovers = 0
    }

    struct Link {
        var busyUntil = Instant.zero
        var lastArrival = Instant.zero
    }

    public let scenario: Scenario
    public let seed: UInt64
    public let parameters: SimParameters
    /// The faults of this run; nil: none.
    public let plan: FaultPlan?
    let mutant: CoreMutant?
    let map: ClusterMap
    var nodes: [SimNode] = []
    var nodeIndex: [NodeID: Int] = [:]
    var queue = EventQueue<Event>()
    var now = Instant.zero
    var links: [Link]
    var hiveRecords: [BlockKey: LeaseRecord] = [:]
    let hiveRegion: RegionID
    var networkRandom: SeededRandom
    var diskRandom: SeededRandom
    /// Draws for message faults and crash damage, a stream of its own so that a plan never
    /// shifts the network's or the disks' draws.
    var faultRandom: SeededRandom
    var digest = TraceDigest()
    /// Receives every line of the event trace, if set (`lis sim run --trace FILE`).
    public var traceSink: ((String) -> Void)?
    /// If set, the run processes every event up to this time and stops there, whether or not
    /// every operation was answered (the swarm's liveness bound). Otherwise it stops once every
    /// operation is answered, or `drainMs` after the last one was issued.
    public var stopAtMs: Double?
    /// The block whose decision records the report keeps (`lis sim run --explain`).
    public var explainKey: BlockKey?
    /// Told of every answered operation and every node event (`lis sim run --serve`'s dashboard).
    public var observer: (any SimulationObserver)?

    /// The plan resolved to node indices: each partition's side, each node's clog windows.
    var partitionSides: [[Bool]] = []
    var clogWindows: [[FaultPlan.Window]] = []
    /// Per node, when the last watch event to it arrives: the watch stream stays in revision
    /// order when a partition or a clog holds it back.
    var watchLastArrival: [Instant] = []

    var clientOps: [ClientOp] = []
    var partOwner: [ClientRequestID: Int] = [:]
    var partKey: [ClientRequestID: BlockKey] = [:]
    var nextRequest: ClientRequestID = 1
    var outstandingOps = 0
    var issuedOps = 0

    /// Whether each answered write (by trace index) was served in its region.
    var localWrite: [Int: Bool] = [:]
    var holders: [BlockKey: [Epoch: Int]] = [:]
    var acked: [BlockKey: [(LogPosition, UInt64)]] = [:]
    /// Per node, the tags of the writes its clients were told are written, in order.
    var ackedAtNode: [[UInt64]] = []
    /// Per node, how many of those its latest flush was submitted after.
    var flushSubmitted: [Int] = []
    /// Writes a completed client flush covers: they must survive every crash.
    var flushed: Set<UInt64> = []
    /// The node that acknowledged each write as its holder (the `flushCrash` fault's victim).
    var ackedHolder: [UInt64: Int] = [:]
    /// `flushCrash` faults still to inject: Q2 members crashed at a flush's submission, and
    /// holders crashed at its success.
    var flushPeerCrashesLeft = 0
    var flushCrashesLeft = 0
    /// Per node, the windows in which its syncs stall, and by how much.
    var stallWindows: [[(FaultPlan.Window, Double)]] = []
    /// Each write's id, by its tag: a node stores the id with the entry (and a transfer carries
    /// it), which the simulated log keeps here once rather than in every copy.
    var writeIDs: [UInt64: RequestID] = [:]
    /// Writes a crash dropped (or tore) from some node's disk before they were flushed: NBD
    /// promises only flushed writes survive power loss, so losing these is allowed.
    var excused: Set<UInt64> = []
    /// Blocks a crash damaged, with the history clock at that instant: their linearizability
    /// is checked up to there only.
    var taintedAt: [BlockKey: Int] = [:]
    var pendingTransferBytes: [Int: [BlockKey: UInt64]] = [:]
    var report: SimReport
    /// Invocations and completions of single-block reads and writes, in real-time order, for
    /// the linearizability check (recorded when `recordsHistory` is set).
    public var recordsHistory = false
    public private(set) var history: [HistoryEvent] = []
    var historyClock = 0
    var regionSlot: [RegionID: Int] = [:]

    public init(
        scenario: Scenario, seed: UInt64, parameters: SimParameters = SimParameters(), mutant: CoreMutant? = nil,
        faults plan: FaultPlan? = nil
    ) {
        self.scenario = scenario
        self.seed = seed
        self.parameters = parameters
        self.plan = plan
        self.mutant = mutant
        var root = SeededRandom(seed: seed)
        networkRandom = root.fork()
        diskRandom = root.fork()
        faultRandom = root.fork()
        hiveRegion = scenario.hiveRegion
        let members = Self.members(of: scenario)
        let topology = scenario.topology
        var clusterMap = ClusterMap(nodes: members, volumes: scenario.volumes) { a, b in topology.rttMs(a, b) ?? 1000 }
        clusterMap.hiveRegion = scenario.hiveRegion
        map = clusterMap
        for (i, (id, region)) in members.enumerated() {
            var core = NodeCore(id: id, map: map, migration: scenario.migration, policy: scenario.policy)
            core.mutant = mutant
            nodes.append(SimNode(core: core, region: region))
            nodeIndex[id] = i
        }
        links = Array(repeating: Link(), count: members.count * members.count)
        ackedAtNode = Array(repeating: [], count: members.count)
        flushSubmitted = Array(repeating: 0, count: members.count)
        watchLastArrival = Array(repeating: .zero, count: members.count)
        report = SimReport(scenario: scenario.name, seed: seed, policy: scenario.policy.name.rawValue)
        for (i, region) in scenario.regions.enumerated() {
            regionSlot[region] = i
            report.regions.append(SimReport.RegionStats(region: region))
        }
    }

    /// The cluster's nodes and their regions: `<region>-<n>`, regions in the scenario's order.
    static func members(of scenario: Scenario) -> [(NodeID, RegionID)] {
        scenario.regions.flatMap { region in
            (1...scenario.nodesPerRegion).map { i in (NodeID("\(region.name)-\(i)"), region) }
        }
    }

    /// Plays the whole trace and returns the report.
    public func run() -> SimReport {
        begin()
        advance(until: nil)
        return finish()
    }

    /// Starts the nodes and schedules the trace: the first step of `run()`, for a driver that
    /// paces the run itself (`advance(until:)`, then `finish()`).
    public func begin() {
        startedAt = Date()
        if let plan { install(plan) }
        for i in nodes.indices {
            apply(i, nodes[i].core.start(now: now, wallMs: wallMs(i)), at: now)
        }
        for (i, op) in scenario.trace.enumerated() { queue.schedule(at: .ms(op.tMs), .traceOp(i)) }
        if scenario.policy.name == .oracle {
            for move in OraclePlan(map: map, hiveRegion: hiveRegion, latencyFactor: scenario.latencyFactor).moves(trace: scenario.trace) {
                guard let node = map.homeNode(of: move.to) else { continue }
                queue.schedule(at: .ms(move.tMs), .take(nodeIndex[node]!, move.key, reason: move.reason))
            }
        }
    }

    /// The cluster's map (members, regions, volumes).
    public var clusterMap: ClusterMap { map }
    /// The holder Hive names for each block that moved.
    public var leaseHolders: [BlockKey: NodeID] { hiveRecords.mapValues(\.holder) }

    /// When the run stops at the latest (virtual time): `stopAtMs`, else `drainMs` after the
    /// last operation is issued.
    public var deadline: Instant {
        stopAtMs.map { Instant.ms($0) } ?? Instant.ms(scenario.trace.last?.tMs ?? 0) + .ms(parameters.drainMs)
    }
    /// The virtual time of the last event processed.
    public var currentTime: Instant { now }
    private var startedAt = Date()

    /// Processes every event due up to `limit` (all, if nil); returns whether any is left.
    @discardableResult
    public func advance(until limit: Instant?) -> Bool {
        let deadline = self.deadline
        while let at = queue.nextTime {
            if at > deadline { return false }
            if stopAtMs == nil && issuedOps == scenario.trace.count && outstandingOps == 0 { return false }
            if let limit, at > limit { return true }
            let (_, event) = queue.pop()!
            now = at
            handle(event)
            report.events += 1
        }
        return false
    }

    /// Ends the run: the checks that need all of it, and the report.
    public func finish() -> SimReport {
        if stopAtMs != nil { now = max(now, deadline) }
        for op in clientOps where op.remaining > 0 {
            let t = scenario.trace[op.index]
            report.regions[regionSlot[t.region]!].failed += 1
            report.unanswered.append("\(t.client) \(t.op.rawValue) \(t.volume):\(t.offset / (map.volumes[t.volume]?.blockSizeBytes ?? 1)) issued at \(t.tMs) ms in \(t.region)")
        }
        checkFlushedWritesAtHolders()
        report.taintedBlocks = taintedAt.count
        finishReport()
        report.wallSeconds = Date().timeIntervalSince(startedAt)
        return report
    }

    // MARK: Events

    func handle(_ event: Event) {
        switch event {
        case .traceOp(let i):
            record("\(now.us) op \(i)")
            submit(i)
        case .input(let n, let incarnation, let input):
            guard nodes[n].isUp, nodes[n].incarnation == incarnation else {
                record("\(now.us) \(nodes[n].core.id) lost (crashed) \(input)")
                return
            }
            record("\(now.us) \(nodes[n].core.id) \(input)")
            if case .synced(let token) = input, let mark = nodes[n].pendingSyncs.removeValue(forKey: token) {
                nodes[n].storage.synced(upTo: mark)
            }
            let effects = nodes[n].core.step(input, now: now, wallMs: wallMs(n))
            apply(n, effects, at: now)
        case .hiveArrive(let n, let incarnation, let call, let request, let sentAt):
            record("\(now.us) hive \(nodes[n].core.id) \(call) \(request)")
            hive(n, incarnation, call, request, sentAt: sentAt)
        case .clientReply(let request, let result):
            record("\(now.us) reply \(request) \(result)")
            clientReply(request, result)
        case .fault(let action):
            perform(action)
        case .take(let n, let key, let reason):
            guard nodes[n].isUp else { return }
            record("\(now.us) \(nodes[n].core.id) take \(key)")
            apply(n, nodes[n].core.requestSteal(key, note: reason, now: now, wallMs: wallMs(n)), at: now)
        }
    }

    /// Schedules an input for node `n`'s current incarnation.
    func schedule(_ n: Int, at: Instant, _ input: NodeInput) {
        queue.schedule(at: at, .input(n, incarnation: nodes[n].incarnation, input))
    }

    func submit(_ index: Int) {
        let op = scenario.trace[index]
        issuedOps += 1
        let candidates = map.nodes(in: op.region)
        let node = nodeIndex[candidates[Int(stableHash(op.client) % UInt64(candidates.count))]]!
        let arrive = now + .ms(parameters.clientLinkMs)
        var parts: [(BlockKey, BlockOp)] = []
        switch op.op {
        case .flush:
            let request = nextRequest
            nextRequest += 1
            partOwner[request] = clientOps.count
            clientOps.append(ClientOp(
                index: index, remaining: 1, node: node, flushFrom: flushSubmitted[node], flushCovers: ackedAtNode[node].count))
            if let tag = ackedAtNode[node][flushSubmitted[node]...].last, let holder = ackedHolder[tag] { crashPeerBeforeFlush(holder) }
            flushSubmitted[node] = ackedAtNode[node].count
            outstandingOps += 1
            sendClientInput(node, request, at: arrive, .clientFlush(request))
            return
        case .read, .write:
            let blockSize = map.volumes[op.volume]!.blockSizeBytes
            var offset = op.offset
            let end = op.offset + op.length
            while offset < end {
                let block = offset / blockSize
                let within = UInt32(offset - block * blockSize)
                let length = UInt32(min(end, (block + 1) * blockSize) - offset)
                let key = BlockKey(op.volume, BlockID(block))
                parts.append((key, op.op == .read
                    ? .read(offset: within, length: length)
                    : .write(BlockWrite(offset: within, length: length, data: .bytes([])))))
                offset += UInt64(length)
            }
        }
        let owner = clientOps.count
        clientOps.append(ClientOp(index: index, remaining: parts.count, node: node))
        outstandingOps += 1
        for (key, var blockOp) in parts {
            let request = nextRequest
            nextRequest += 1
            partOwner[request] = owner
            partKey[request] = key
            if case .write(var w) = blockOp {
                w.data = .bytes(SimPayloadCodec.encodeTag(request))
                blockOp = .write(w)
            }
            if recordsHistory && parts.count == 1 {
                clientOps[owner].recorded = true
                historyClock += 1
                history.append(HistoryEvent(
                    time: historyClock, process: "\(op.client)#\(index)", kind: .invoke, isWrite: op.op == .write, key: key,
                    value: op.op == .write ? request : nil))
            }
            sendClientInput(node, request, at: arrive, .client(request, key, blockOp))
        }
    }

    /// Hands a client's request to its node, or fails it at once when the node is down (the
    /// client's connection is refused).
    func sendClientInput(_ node: Int, _ request: ClientRequestID, at: Instant, _ input: NodeInput) {
        guard nodes[node].isUp else {
            queue.schedule(at: at, .clientReply(request, .failed(.unavailable)))
            return
        }
        nodes[node].clientRequests.insert(request)
        schedule(node, at: at, input)
    }

    func clientReply(_ request: ClientRequestID, _ result: ClientResult) {
        guard let owner = partOwner.removeValue(forKey: request) else { return }
        let key = partKey.removeValue(forKey: request)
        var op = clientOps[owner]
        let traceOp = scenario.trace[op.index]
        switch result {
        case .failed: op.failed = true
        case .written(let position):
            let holder = key.flatMap { holders[$0]?[position.epoch] }
            if let holder, nodes[holder].region != traceOp.region { op.local = false }
            ackedAtNode[op.node].append(request)
            ackedHolder[request] = holder
        case .flushed:
            let covered = ackedAtNode[op.node][op.flushFrom..<op.flushCovers]
            for tag in covered { flushed.insert(tag) }
            if let tag = covered.last, let holder = ackedHolder[tag] { crashAfterFlush(holder) }
        case .read: break
        }
        op.remaining -= 1
        clientOps[owner] = op
        if op.recorded, let key, op.remaining == 0 {
            historyClock += 1
            let value: UInt64?
            switch result {
            case .read(.bytes(let bytes)) where bytes.count == 8: value = SimPayloadCodec.decodeTag(bytes)
            case .written: value = request
            default: value = nil
            }
            let kind: HistoryEvent.Kind = op.failed ? .info : .ok
            history.append(HistoryEvent(
                time: historyClock, process: "\(traceOp.client)#\(op.index)", kind: kind, isWrite: traceOp.op == .write, key: key,
                value: value))
        }
        guard op.remaining == 0 else { return }
        outstandingOps -= 1
        let latency = (now - .ms(traceOp.tMs)).ms
        observer?.answered(traceOp, node: nodes[op.node].core.id, blocks: blockRange(traceOp), latencyMs: latency, failed: op.failed, atMs: now.ms)
        var stats = report.regions[regionSlot[traceOp.region]!]
        if op.failed {
            stats.failed += 1
        } else {
            switch traceOp.op {
            case .write:
                stats.writes += 1
                stats.writeLatenciesMs.append(latency)
                if op.local { stats.localWrites += 1 }
                localWrite[op.index] = op.local
                report.writeSamples.append((traceOp.tMs, latency))
            case .read:
                stats.reads += 1
                stats.readLatenciesMs.append(latency)
            case .flush:
                stats.flushes += 1
            }
        }
        report.regions[regionSlot[traceOp.region]!] = stats
        report.ops += 1
    }

    // MARK: Effects

    func apply(_ n: Int, _ effects: [NodeEffect], at start: Instant) {
        var cursor = start
        for effect in effects {
            switch effect {
            case .persistPromise(let key, let epoch):
                nodes[n].storage.promise(key, epoch)
                cursor = cursor + .ms(draw(parameters.fsyncMs) + stallMs(n))
            case .persistWrite(let key, let position, let write, let durable):
                if let promised = nodes[n].storage.promises[key], position.epoch < promised {
                    violation("\(nodes[n].core.id) stored a write of \(position.epoch) for \(key) after promising \(promised)")
                }
                let tag: UInt64
                switch write.data {
                case .bytes(let bytes): tag = SimPayloadCodec.decodeTag(bytes)
                case .zeros: tag = 0
                default: preconditionFailure("simulated writes carry a tag or zeros, got \(write.data)")
                }
                nodes[n].storage.write(key, position, tag: tag, offset: write.offset, length: write.length, durable: durable)
                if let id = write.id { writeIDs[tag] = id }

                cursor = cursor + .ms(draw(parameters.diskWriteMs) + (durable ? draw(parameters.fsyncMs) + stallMs(n) : 0))
            case .installTransfer(let key, let payload, let upTo, _):
                var bytes: UInt64 = 0
                var transfer: SimTransfer?
                if let payload {
                    guard case .bytes(let raw) = payload else { preconditionFailure("transfers arrive resolved") }
                    transfer = SimPayloadCodec.decodeTransfer(raw)
                    bytes = transferBytes(key, transfer!)
                }
                nodes[n].storage.install(key, transfer, upTo: upTo)
                if nodes[n].storage.position(key) != upTo {
                    violation("\(nodes[n].core.id) installed \(key) at \(nodes[n].storage.position(key)), core expects \(upTo)")
                }
                cursor = cursor + .ms(draw(parameters.fsyncMs) + stallMs(n) + Double(bytes) / parameters.diskBytesPerMs)
            case .sync(let token):
                nodes[n].pendingSyncs[token] = nodes[n].storage.syncMark
                schedule(n, at: cursor + .ms(draw(parameters.fsyncMs) + stallMs(n)), .synced(token))
            case .probe(let token):
                schedule(n, at: cursor + .ms(draw(parameters.diskWriteMs)), .probed(token))
            case .send(let to, let envelope):
                checkHLC(n, envelope)
                let target = nodeIndex[to]!
                let (message, bytes) = resolve(n, envelope.message, to: target)
                var resolved = envelope
                resolved.message = message
                if plan == nil {
                    schedule(target, at: deliver(from: n, to: target, bytes: bytes, at: cursor), .peer(resolved))
                } else {
                    sendWithFaults(from: n, to: target, resolved, bytes: bytes, at: cursor)
                }
            case .holdRead(let handle, let key, _, let length):
                nodes[n].heldReads[handle] = (nodes[n].storage.logs[key]?.last?.tag ?? 0, length)
            case .dropHeldRead(let handle):
                nodes[n].heldReads[handle] = nil
            case .hive(let call, let request):
                if plan == nil {
                    queue.schedule(
                        at: cursor + oneWay(nodes[n].region, hiveRegion),
                        .hiveArrive(n, incarnation: nodes[n].incarnation, call, request, sentAt: cursor))
                } else {
                    callHiveWithFaults(n, call, request, at: cursor)
                }
            case .reply(let request, let result):
                var result = result
                if case .read(let payload) = result { result = .read(resolveRead(n, payload)) }
                if case .written(let position) = result, let key = partKey[request] {
                    acked[key, default: []].append((position, request))
                }
                nodes[n].clientRequests.remove(request)
                queue.schedule(at: cursor + .ms(parameters.clientLinkMs), .clientReply(request, result))
            case .armTimer(let timer, let at):
                schedule(n, at: max(at, cursor), .timer(timer))
            case .event(let event):
                observe(n, event)
            }
        }
    }

    /// The blocks a read or write spans; nil for a flush.
    func blockRange(_ op: TraceOp) -> ClosedRange<UInt64>? {
        guard op.op != .flush, let blockSize = map.volumes[op.volume]?.blockSizeBytes, op.length > 0 else { return nil }
        return op.offset / blockSize...(op.offset + op.length - 1) / blockSize
    }

    func observe(_ n: Int, _ event: NodeEvent) {
        if let explainKey { explain(n, event, explainKey) }
        observer?.event(event, node: nodes[n].core.id, region: nodes[n].region, atMs: now.ms)
        switch event {
        case .holding(let key, let epoch):
            if let other = holders[key]?[epoch], other != n {
                violation("two holders of \(key) at \(epoch): \(nodes[other].core.id) and \(nodes[n].core.id)")
            }
            holders[key, default: [:]][epoch] = n
        case .moved(let key, let epoch, let from, let stealMs, let reason):
            checkAckedWrites(n, key, epoch)
            let bytes = pendingTransferBytes[n]?.removeValue(forKey: key) ?? 0
            report.moves.append(SimReport.Move(
                tMs: now.ms, key: key, from: map.region(of: from)!, to: nodes[n].region, reason: reason.text,
                stealMs: stealMs, transferBytes: bytes))
        case .stealAbandoned:
            report.abandonedSteals += 1
        case .fenced, .stealStarted, .declined:
            break
        }
    }

    /// Keeps the records of the explained block.
    func explain(_ n: Int, _ event: NodeEvent, _ key: BlockKey) {
        let record: (String, String)?
        switch event {
        case .declined(key, let to, let reason): record = ("declined", "→ \(to): \(reason.text(to: to))")
        case .stealStarted(key, let from, let reason): record = ("steal started", "from \(from): \(reason.text)")
        case .moved(key, let epoch, let from, let stealMs, let reason):
            record = ("moved", "from \(from) at \(epoch) in \(TiersPolicy.fmt(stealMs)) ms: \(reason.text)")
        case .stealAbandoned(key, let reason): record = ("steal abandoned", reason.text)
        case .fenced(key, let epoch): record = ("fenced", "no longer served here: \(epoch) promised")
        default: record = nil
        }
        guard let (kind, text) = record else { return }
        report.explanations.append(SimReport.Explanation(tMs: now.ms, node: nodes[n].core.id, kind: kind, text: text))
    }

    /// Every acknowledged write of the block must be in the new holder's copy, unchanged —
    /// except one a crash dropped from a disk before any flush covered it: NBD promises only
    /// that flushed writes survive power loss.
    func checkAckedWrites(_ n: Int, _ key: BlockKey, _ epoch: Epoch) {
        for (position, tag) in acked[key] ?? [] {
            let isFlushed = flushed.contains(tag)
            if excused.contains(tag) && !isFlushed { continue }
            report.checkedOps += 1
            let entry = nodes[n].storage.entry(key, version: position.version)
            if entry?.position != position || entry?.tag != tag || entry?.tornBytes != nil {
                if isFlushed {
                    violation("flushed write \(tag) of \(key) at \(position) lost: \(nodes[n].core.id) activated \(epoch) without it")
                } else {
                    violation("\(nodes[n].core.id) activated \(key) at \(epoch) without acknowledged write \(tag) at \(position)")
                }
            }
        }
    }

    /// At the end of a run, every flushed write is still in the copy of the block's holder
    /// (the last active one while a steal is under way).
    func checkFlushedWritesAtHolders() {
        for key in acked.keys.sorted() {
            guard let record = hiveRecords[key] ?? map.homeRecord(of: key) else { continue }
            let holder = record.state == .active ? record.holder : record.lastActive.holder
            let n = nodeIndex[holder]!
            for (position, tag) in acked[key]! where flushed.contains(tag) {
                let entry = nodes[n].storage.entry(key, version: position.version)
                if entry?.position != position || entry?.tag != tag || entry?.tornBytes != nil {
                    violation("flushed write \(tag) of \(key) at \(position) lost: not in \(holder)'s copy at the end (\(record))")
                }
            }
        }
    }

    /// A node's clock never goes back: every message it sends carries a newer timestamp.
    func checkHLC(_ n: Int, _ envelope: PeerEnvelope) {
        if envelope.hlc <= nodes[n].lastSentHLC {
            violation("HLC of \(envelope.from) went back: \(envelope.hlc) after \(nodes[n].lastSentHLC)")
        }
        nodes[n].lastSentHLC = envelope.hlc
    }

    /// One line of the event trace: digested, and passed to the sink if there is one.
    func record(_ line: String) {
        digest.add(line)
        traceSink?(line)
    }

    func violation(_ message: String) {
        report.violations.append("t=\(now.ms)ms \(message)")
    }

    // MARK: Payloads

    /// Fills the storage references in an outgoing message and returns its size on the wire.
    func resolve(_ n: Int, _ message: PeerMessage, to target: Int) -> (PeerMessage, Int) {
        let header = parameters.messageHeaderBytes
        switch message {
        case .forward(let op):
            return (message, header + (op.op.isWrite ? Int(op.op.length) : 0))
        case .forwardReply(let request, .read(let payload)):
            let length: UInt32
            switch payload {
            case .read(_, _, let l): length = l
            case .held(let handle): length = nodes[n].heldReads[handle]?.length ?? 0
            default: return (message, header)
            }
            return (.forwardReply(request, .read(resolveRead(n, payload))), header + Int(length))
        case .accept(_, _, _, let write), .replicate(_, _, _, let write):
            return (message, header + Int(write.length))
        case .fenced(let key, let epoch, let position, .some(let payload), let refused, let recent):
            let (resolved, bytes) = resolveTransfer(n, payload)
            pendingTransferBytes[target, default: [:]][key, default: 0] += UInt64(bytes)
            return (
                .fenced(key, epoch: epoch, position: position, transfer: resolved, refusedFor: refused, recent: recent),
                header + bytes + 24 * recent.count
            )
        case .fenced(_, _, _, nil, _, let recent):
            return (message, header + 24 * recent.count)
        case .handOver(let key, .claimed(let claim, let position, .some(let payload), let recent), let reason, let rates):
            let (resolved, bytes) = resolveTransfer(n, payload)
            pendingTransferBytes[target, default: [:]][key, default: 0] += UInt64(bytes)
            return (
                .handOver(key, .claimed(claim, position: position, transfer: resolved, recent: recent), reason: reason, rates: rates),
                header + bytes + 24 * recent.count
            )
        case .handOver(_, .claimed(_, _, nil, let recent), _, _):
            return (message, header + 24 * recent.count)
        case .transferReply(let key, let epoch, let payload, let upTo):
            let (resolved, bytes) = resolveTransfer(n, payload)
            pendingTransferBytes[target, default: [:]][key, default: 0] += UInt64(bytes)
            return (.transferReply(key, epoch: epoch, transfer: resolved, upTo: upTo), header + bytes)
        case .install(let key, let epoch, let payload, let after, let upTo, let recent):
            let (resolved, bytes) = resolveTransfer(n, payload)
            return (
                .install(key, epoch: epoch, transfer: resolved, after: after, upTo: upTo, recent: recent),
                header + bytes + 24 * recent.count
            )
        default:
            return (message, header)
        }
    }

    /// A read returns the tag of the block's newest write at the node that serves it (the
    /// swarm's reads and writes cover the same page, so the block is one register).
    func resolveRead(_ n: Int, _ payload: Payload) -> Payload {
        switch payload {
        case .read(let key, _, _):
            return .bytes(SimPayloadCodec.encodeTag(nodes[n].storage.logs[key]?.last?.tag ?? 0))
        case .held(let handle):
            guard let held = nodes[n].heldReads.removeValue(forKey: handle) else { preconditionFailure("held read \(handle) answered twice") }
            return .bytes(SimPayloadCodec.encodeTag(held.tag))
        default:
            return payload
        }
    }

    func resolveTransfer(_ n: Int, _ payload: Payload) -> (Payload, Int) {
        guard case .transfer(let key, let after, let upTo) = payload else { return (payload, 0) }
        let transfer = nodes[n].storage.export(key, after: after, upTo: upTo)
        return (.bytes(SimPayloadCodec.encodeTransfer(transfer)), Int(transferBytes(key, transfer)))
    }

    /// A whole-block copy moves the block; a log moves the bytes of its writes.
    func transferBytes(_ key: BlockKey, _ transfer: SimTransfer) -> UInt64 {
        if transfer.wholeBlock { return map.volumes[key.volume]!.blockSizeBytes }
        return transfer.entries.reduce(0) { $0 + UInt64($1.length) + 32 }
    }

    // MARK: Network and Hive

    func oneWay(_ a: RegionID, _ b: RegionID) -> Duration {
        // A scenario's latency changes slow the network; the nodes' own RTT table stays the
        // topology's (they do not measure RTTs yet).
        let rtt = map.rttMs(a, b) * (scenario.latencyChanges.isEmpty ? 1 : scenario.latencyFactor(a, b, atMs: now.ms))
        return .ms(rtt / 2 * (1 + parameters.jitterFraction * networkRandom.unit()))
    }

    /// When a message of `bytes` sent at `at` arrives: links are FIFO (TCP), serialise at
    /// their bandwidth, and add propagation delay with jitter.
    func deliver(from: Int, to: Int, bytes: Int, at: Instant) -> Instant {
        let i = from * nodes.count + to
        let sameRegion = nodes[from].region == nodes[to].region
        let bandwidth = sameRegion ? parameters.lanBytesPerMs : parameters.wanBytesPerMs
        let depart = max(at, links[i].busyUntil)
        let serialised = depart + .ms(Double(bytes) / bandwidth)
        links[i].busyUntil = serialised
        let arrival = max(serialised + oneWay(nodes[from].region, nodes[to].region), links[i].lastArrival)
        links[i].lastArrival = arrival
        return arrival
    }

    /// Hive applies calls one at a time in arrival order: linearizable by construction.
    func hive(_ n: Int, _ incarnation: Int, _ call: HiveCallID, _ request: HiveRequest, sentAt: Instant) {
        if let plan, plan.hiveOutages.contains(where: { isActive($0, now) }) {
            // Nothing is applied; the caller's client gives up after its timeout.
            record("\(now.us) fault hive-outage refuses \(nodes[n].core.id) \(call)")
            queue.schedule(
                at: max(now, sentAt + .ms(parameters.hiveTimeoutMs)),
                .input(n, incarnation: incarnation, .hive(call, .unavailable(request.key, reason: "hive unreachable"))))
            return
        }
        let done = now + .ms(parameters.hiveCommitMs)
        let response: HiveResponse
        var changed: (BlockKey, LeaseRecord)?
        switch request {
        case .get(let key):
            response = .record(key, hiveRecords[key])
        case .compareAndSet(let key, let expected, let new):
            let current = hiveRecords[key]
            if let volume = map.volumes[key.volume], let region = map.region(of: new.holder), !volume.allows(region) {
                response = .unavailable(key, reason: "\(key.volume) is pinned to \(volume.allowedRegions ?? [])")
            } else if current == expected {
                hiveRecords[key] = new
                response = .swapped(key, ok: true, current: new)
                changed = (key, new)
            } else {
                response = .swapped(key, ok: false, current: current)
            }
        }
        if plan == nil {
            queue.schedule(at: done + oneWay(hiveRegion, nodes[n].region), .input(n, incarnation: incarnation, .hive(call, response)))
            if let (key, record) = changed {
                for i in nodes.indices where i != n {
                    schedule(i, at: done + oneWay(hiveRegion, nodes[i].region), .hiveWatch(key, record))
                }
            }
        } else {
            answerHiveWithFaults(n, incarnation, call, response, changed: changed, done: done, sentAt: sentAt)
        }
    }

    // MARK: Helpers

    func draw(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * diskRandom.unit()
    }

    func stableHash(_ s: String) -> UInt64 {
        var d = TraceDigest()
        d.add(s)
        return d.value
    }

    func finishReport() {
        report.digest = digest.hex
        report.simSeconds = now.ms / 1000
        // Sessions: each region's operations split at gaps of 4 h; a session's first write to
        // each block, and whether it was local.
        var open: [RegionID: (index: Int, lastMs: Double, blocks: Set<BlockKey>)] = [:]
        for (i, op) in scenario.trace.enumerated() where op.op != .flush {
            if open[op.region].map({ op.tMs - $0.lastMs >= SimReport.sessionGapMs }) ?? true {
                open[op.region] = (report.sessions.count, op.tMs, [])
                report.sessions.append(SimReport.Session(region: op.region, startMs: op.tMs))
            }
            open[op.region]!.lastMs = op.tMs
            let key = BlockKey(op.volume, BlockID(op.offset / map.volumes[op.volume]!.blockSizeBytes))
            guard op.op == .write, let local = localWrite[i], open[op.region]!.blocks.insert(key).inserted else { continue }
            report.sessions[open[op.region]!.index].firstWrites += 1
            if local { report.sessions[open[op.region]!.index].localFirstWrites += 1 }
        }
        // Writes from the new holder's region issued before each move, since the block's
        // previous move: the slow writes the policy waited for plus those caught in flight.
        var previousMove: [BlockKey: Double] = [:]
        for i in report.moves.indices {
            let move = report.moves[i]
            let since = previousMove[move.key] ?? -1
            let blockSize = map.volumes[move.key.volume]!.blockSizeBytes
            let start = move.key.block.index * blockSize
            report.moves[i].slowWritesBefore = scenario.trace.lazy.filter { op in
                op.op == .write && op.region == move.to && op.volume == move.key.volume
                    && op.tMs > since && op.tMs < move.tMs
                    && op.offset < start + blockSize && op.offset + op.length > start
            }.count
            previousMove[move.key] = move.tMs
        }
    }
}
