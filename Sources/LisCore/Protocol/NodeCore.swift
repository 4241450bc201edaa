/// One node's protocol state for every block it touches: holder, acceptor, async copy,
/// forwarder and stealer in one deterministic state machine (DESIGN §3). Each role keeps its
/// state in its own type (`Replica`, `HolderTerm`, `Steal`, `Forwarder`, `FlushCoordinator`,
/// `LinkMeter`, the `PlacementPolicy`); `step` routes each input to its role's handler.
///
/// The shell calls `step(_:now:wallMs:)` with each input and applies the returned effects in
/// order. Nothing here reads a clock, draws a random number or does I/O, so the simulator
/// and the node runtime drive exactly this code.
public struct NodeCore: Sendable {
    public let id: NodeID
    public let region: RegionID
    public private(set) var map: ClusterMap
    public let migration: MigrationConfig
    /// Where blocks should live (`[policy]`): the policy, with its own state.
    public internal(set) var placement: any PlacementPolicy
    /// Resend interval for a steal's fence, transfer and install messages.
    public var stealResendMs: Double = 2000
    /// How often the local persist latency is measured again.
    public var probeIntervalMs: Double = 10000
    /// Resend interval for accepts, read checks and flushes still unanswered (a lost message,
    /// a crashed peer); duplicates are harmless (PROTOCOL.md "Retries").
    public var retryMs: Double = 1000
    /// After a write or a steal, how soon the holder checks that every copy caught up.
    public var repairIntervalMs: Double = 1000
    /// A claim that stayed `stealing` this long while operations waited for it is taken over.
    public var takeoverMs: Double = 10000
    /// A block queues at most this many operations (waiting for a steal, or for Hive).
    public static let maxQueuedPerBlock = 4096

    /// An operator paused the placement policy (`lis policy pause`, kept in Hive): this node
    /// starts no move of its own (no steal at the origin, no hand-over, no prediction); the
    /// policy still watches, and takeovers, renewals and operators' moves go on.
    public var placementPaused = false
    /// Nodes an operator drained (`lis node drain`, kept in Hive): their leases moved away and
    /// nothing moves to them; a drained node starts no move of its own, as if paused.
    public var drained: Set<NodeID> = []
    /// This node starts no move of its own: placement is paused, or this node is drained.
    var placementStopped: Bool { placementPaused || drained.contains(id) }

    /// A protection switched off for the simulator's teeth tests; nil in every real node.
    @_spi(Simulation) public var mutant: CoreMutant?

    var hlc = HybridLogicalClock()
    /// This node ran before with the same storage: it never resumes a term it held.
    var restarted = false
    var blocks: [BlockKey: BlockState] = [:]
    /// Operations forwarded for local clients, awaiting answers.
    var forwarder = Forwarder()
    /// Members whose keep-alive in Hive lapsed (`setLapsed`); the simulator sets none.
    var lapsed: Set<NodeID> = []
    var hiveCalls: [HiveCallID: BlockKey] = [:]
    var probes: [UInt64: Instant] = [:]
    /// Flushes as origin, holder and Q2 member.
    var flush = FlushCoordinator()
    /// When this node last handed a block over (CockroachDB limits transfers per node).
    var lastHandOverAt: Instant?
    /// Round trips to other regions (`ping`/`pong`): measured, and reported by other regions.
    var links: LinkMeter
    public internal(set) var local: LocalLatency
    public internal(set) var stealsInFlight = 0
    /// Peer messages dropped because their sender is not a member of the cluster map.
    public internal(set) var droppedFromUnknownPeers = 0
    var nextSeq: UInt64 = 1
    /// This run of the node: how many times it started before (`restore`).
    var incarnation: UInt64 = 0
    /// The newest run of each peer this node heard from.
    var peerIncarnations: [NodeID: UInt64] = [:]
    var nextToken: UInt64 = 1

    var effects: [NodeEffect] = []
    var now: Instant = .zero
    var wallMs: Int64 = 0

    public init(id: NodeID, map: ClusterMap, migration: MigrationConfig, policy: PolicyConfig) {
        self.id = id
        guard let region = map.region(of: id) else { preconditionFailure("\(id) is not in its cluster map") }
        self.region = region
        self.map = map
        self.migration = migration
        self.placement = policy.name.placement(settings: policy.settings, migration: migration, policy: policy)
        self.local = LocalLatency(floorMs: policy.localLatencyFloorMs)
        self.links = LinkMeter(region: region)
    }

    /// Measures local latency at once and keeps measuring it. Call once when the node starts.
    public mutating func start(now: Instant, wallMs: Int64) -> [NodeEffect] {
        begin(now, wallMs)
        startProbe()
        if placement.predicts {
            effects.append(.armTimer(.predict, at: now + .ms(placement.predictIntervalMs)))
        }
        if map.regions.count > 1 { probeRtts() }
        return effects
    }

    public mutating func step(_ input: NodeInput, now: Instant, wallMs: Int64) -> [NodeEffect] {
        begin(now, wallMs)
        switch input {
        case .client(let id, let key, let op): onClient(id, key, op)
        case .clientFlush(let id): onClientFlush(id)
        case .peer(let envelope):
            // A sender outside the cluster map is dropped and counted: every handler may ask
            // for the sender's region.
            guard map.contains(envelope.from), envelope.from != id else {
                droppedFromUnknownPeers += 1
                return effects
            }
            _ = hlc.receive(envelope.hlc, physicalMs: wallMs)
            if envelope.incarnation > peerIncarnations[envelope.from] ?? 0 { peerIncarnations[envelope.from] = envelope.incarnation }
            onPeer(envelope.from, envelope.message)
        case .hive(let call, let response): onHive(call, response)
        case .hiveWatch(let key, let record): learn(key, record)
        case .timer(let timer): onTimer(timer)
        case .synced(let token): onSynced(token)
        case .probed(let token):
            if let started = probes.removeValue(forKey: token) { local.observe((now - started).ms) }
        }
        return effects
    }

    private mutating func begin(_ now: Instant, _ wallMs: Int64) {
        effects.removeAll(keepingCapacity: true)
        self.now = now
        self.wallMs = wallMs
    }

    /// Starts a steal of the block now, whatever the policy says (an operator's request, a test).
    /// The protocol's rules still apply: Hive may refuse the claim (pinning, a lost race).
    public mutating func requestSteal(_ key: BlockKey, note: String, now: Instant, wallMs: Int64) -> [NodeEffect] {
        begin(now, wallMs)
        if blocks[key]?.steal == nil, blocks[key]?.holding == nil { startSteal(key, reason: .requested(note)) }
        return effects
    }

    /// The most blocks one operator's move names: a bound on what one message makes a node do.
    public static let maxRequestedBlocks = 4096

    /// An operator moves blocks to `target` (`lis block move`): this node steals them if it is
    /// in that region, else it asks the first live node there to. Returns that node, nil if the
    /// region has no live member. Blocks already held or being stolen by the node that takes
    /// them (by the lease it knows) are left; Hive still decides each claim (pinning, a lost race).
    public mutating func requestMove(_ keys: [BlockKey], to target: RegionID, now: Instant, wallMs: Int64)
        -> (taker: NodeID?, effects: [NodeEffect])
    {
        begin(now, wallMs)
        let keys = Array(keys.prefix(Self.maxRequestedBlocks))
        guard let taker = target == region && !drained.contains(id) ? id : liveNode(in: target) else { return (nil, effects) }
        if taker == id {
            takeRequested(keys, via: id)
        } else {
            send(taker, .takeBlocks(keys))
        }
        return (taker, effects)
    }

    /// The node of `region` a move goes to: the first, in join order, that is neither lapsed
    /// nor drained.
    func liveNode(in region: RegionID) -> NodeID? {
        map.nodes(in: region).first { !lapsed.contains($0) && !drained.contains($0) }
    }

    /// The node of `region` a holder hands a block to: its first that is not drained. (A lapsed
    /// one is not skipped: its membership, not a hand-over, decides who takes its blocks.)
    func handOverTarget(in region: RegionID) -> NodeID? {
        map.nodes(in: region).first { !drained.contains($0) }
    }

    /// Steals the blocks an operator's move names (`requestMove`, here or on `node`).
    mutating func takeRequested(_ keys: [BlockKey], via node: NodeID) {
        for key in keys.prefix(Self.maxRequestedBlocks) {
            guard let volume = map.volumes[key.volume], key.block.index < volume.blockCount else { continue }
            guard blocks[key]?.steal == nil, blocks[key]?.holding == nil, record(key)?.holder != id else { continue }
            startSteal(key, reason: .operatorMove(via: node))
        }
    }

    /// What a node recovered from its own storage when it restarts: its durable promises and
    /// the positions of its copies. Call before the first step. A node that ran before
    /// (`restarted`) takes a new epoch for each block it held before serving it again.
    /// `incarnation` counts the node's starts (kept by the shell, durably): request ids of
    /// different runs never collide, since a holder takes a known id for a write it has.
    /// `recent`: the ids of the newest writes in each copy, as stored with them, oldest first —
    /// without them a write retried after this node restarted would be applied twice.
    public mutating func restore(
        promises: [BlockKey: Epoch], positions: [BlockKey: LogPosition], restarted: Bool, incarnation: UInt64 = 0,
        recent: [BlockKey: [WriteRef]] = [:]
    ) {
        self.restarted = restarted
        self.incarnation = incarnation
        nextSeq = incarnation << 40 | 1
        for key in Set(promises.keys).union(positions.keys).union(recent.keys) {
            blocks[key, default: BlockState()].replica.restore(promised: promises[key], position: positions[key], recent: recent[key] ?? [])
        }
    }

    /// Nodes joined the cluster (from Hive, in the order they registered). A region's nodes
    /// keep their order and joiners are appended, so no region's home node changes; a node
    /// never leaves the map (its region's quorums count it until it is replaced). Starts
    /// measuring round trips when a second region appears.
    public mutating func setMembers(_ members: [(NodeID, RegionID)], now: Instant, wallMs: Int64) -> [NodeEffect] {
        begin(now, wallMs)
        var nodes: [(NodeID, RegionID)] = map.regions.flatMap { r in map.nodes(in: r).map { ($0, r) } }
        for (node, r) in members where !map.contains(node) { nodes.append((node, r)) }
        let probing = map.regions.count > 1
        map.setNodes(nodes, inJoinOrder: true)
        if !probing && map.regions.count > 1 { probeRtts() }
        return effects
    }

    /// The members whose keep-alive in Hive lapsed (`HiveEngine.lapsedMembers`): operations that
    /// wait on a block such a node holds may take it over (PROTOCOL.md "Takeover").
    public mutating func setLapsed(_ nodes: Set<NodeID>) { lapsed = nodes.subtracting([id]) }

    /// Volumes were created, resized or deleted (from Hive). Deleted volumes' blocks are forgotten.
    public mutating func setVolumes(_ volumes: [VolumeSpec]) {
        map.volumes = Dictionary(uniqueKeysWithValues: volumes.map { ($0.name, $0) })
        blocks = blocks.filter { map.volumes[$0.key.volume] != nil }
    }

    /// The number of blocks this node serves now.
    public var servedBlocks: Int {
        blocks.values.count { state in state.holding.map { $0.epoch == state.promised } ?? false }
    }

    // MARK: Read-only views for shells, checkers and tests

    /// The epoch this node serves the block at, if it serves it.
    public func servingEpoch(_ key: BlockKey) -> Epoch? {
        guard let state = blocks[key], let h = state.holding, h.epoch == state.promised else { return nil }
        return h.epoch
    }
    public func promised(_ key: BlockKey) -> Epoch { blocks[key]?.promised ?? .zero }
    public func position(_ key: BlockKey) -> LogPosition { blocks[key]?.position ?? .empty }
    public func heat(_ key: BlockKey) -> BlockHeat? { blocks[key]?.heat }
    public func isStealing(_ key: BlockKey) -> Bool { blocks[key]?.steal != nil }
    public var hlcLast: HLCTimestamp { hlc.last }

    /// Operations and calls this node is waiting on: what to look at when clients hang.
    public var workInFlight: WorkInFlight {
        var work = WorkInFlight()
        work.forwards = forwarder.count
        work.hiveCalls = hiveCalls.count
        for state in blocks.values {
            work.queuedBehindSteals += state.queue.count
            work.parkedForHive += state.parked.count
            if state.lookupInFlight { work.lookups += 1 }
            if let term = state.holding {
                work.pendingWrites += term.pendingWrites.count
                work.pendingReads += term.pendingReads.count + term.heldReads.count
            }
        }
        work.pendingFlushes = flush.pendingCount
        return work
    }

    // MARK: Effect helpers

    mutating func send(_ to: NodeID, _ message: PeerMessage) {
        precondition(to != id, "a node does not message itself")
        effects.append(.send(to, PeerEnvelope(from: id, incarnation: incarnation, hlc: hlc.now(physicalMs: wallMs), message: message)))
    }

    mutating func token() -> UInt64 {
        defer { nextToken += 1 }
        return nextToken
    }

    mutating func hiveCall(_ key: BlockKey, _ request: HiveRequest) -> HiveCallID {
        let call = token()
        hiveCalls[call] = key
        links.hiveCallSent(call, at: now)
        effects.append(.hive(call, request))
        return call
    }

    mutating func reply(_ target: ReplyTarget, _ result: ForwardResult) {
        switch target {
        case .peer(let node, let request): send(node, .forwardReply(request, result))
        case .client(let client):
            switch result {
            case .written(let v): effects.append(.reply(client, .written(v)))
            case .read(let p): effects.append(.reply(client, .read(p)))
            case .failed(let e): effects.append(.reply(client, .failed(e)))
            case .redirect: preconditionFailure("a local client is re-dispatched, never redirected")
            }
        }
    }

    /// Asks Hive who holds the block, unless a lookup is already under way.
    mutating func lookUpHolder(_ key: BlockKey) {
        guard !(blocks[key]?.lookupInFlight ?? false) else { return }
        blocks[key, default: BlockState()].lookupInFlight = true
        _ = hiveCall(key, .get(key))
    }

    func volume(_ key: BlockKey) -> VolumeSpec? { map.volumes[key.volume] }

    /// Reads a block's state where it is, or returns `absent` for a block with no state.
    /// `blocks[key]?.field` copies the whole state (every table in it retained, then
    /// released) to read one field, and so does reading through the optional that
    /// `blocks[key]`'s in-place access yields; the write path did that several times per
    /// write. The values' in-place subscript reaches the state itself.
    @inline(__always)
    mutating func peekBlock<R>(_ key: BlockKey, absent: R, _ read: (inout BlockState) -> R) -> R {
        guard let index = blocks.index(forKey: key) else { return absent }
        return read(&blocks.values[index])
    }

    /// The newest known lease record: Hive's, or the volume's home if it never moved.
    func record(_ key: BlockKey) -> LeaseRecord? { blocks[key]?.route ?? map.homeRecord(of: key) }

    /// Where to send an operation on the block: the newest holder known from Hive or hints.
    func believedHolder(_ key: BlockKey) -> NodeID? {
        let rec = record(key)
        if let hint = blocks[key]?.hint, hint.epoch > (rec?.epoch ?? .zero) { return hint.holder }
        return rec?.holder
    }

    // MARK: Round trips to other regions

    mutating func probeRtts() {
        effects.append(.armTimer(.rttProbe, at: now + .ms(LinkMeter.probeIntervalMs)))
        links.startRound(at: now)
        for other in map.regions where other != region {
            guard let node = map.homeNode(of: other) else { continue }
            let nonce = token()
            links.sent(nonce, to: other, at: now)
            send(node, .ping(nonce))
        }
    }

    /// Measured round trips to other regions (`ping`/`pong`), smoothed.
    public var measuredRttMs: [RegionID: Double] { links.measuredMs }
    /// Round trips between regions as measured: this node's own, and what the node it asks in
    /// each other region reported of that region's (the dashboard's matrix).
    public var rttMatrixMs: [RegionID: [RegionID: Double]] {
        var matrix = links.reportedMs
        matrix[map.region(of: id) ?? RegionID("")] = links.measuredMs
        return matrix
    }
    /// This node's Hive round trip, smoothed; nil until a call was answered.
    public var hiveRttMs: Double? { links.hiveMs }

    /// Round trips between regions as this node knows them.
    var knownRtts: KnownRtts { links.known(table: map.rttMs, hiveRegion: map.hiveRegion) }

    /// The round trip from this node to another, as known; infinite for a node not in the map.
    func rttMs(to node: NodeID, _ known: KnownRtts) -> Double {
        map.region(of: node).map { known.rttMs(region, $0) } ?? .infinity
    }

    // MARK: Probes

    mutating func startProbe() {
        let t = token()
        probes[t] = now
        effects.append(.probe(t))
        effects.append(.armTimer(.probe, at: now + .ms(probeIntervalMs)))
    }

    mutating func onTimer(_ timer: TimerID) {
        switch timer {
        case .probe: startProbe()
        case .slowWrite(let request): onSlowWriteTimer(request)
        case .stealResend(let key, let epoch): resendSteal(key, epoch)
        case .forwardRetry(let request): retryForward(request)
        case .forwardTimeout(let request, let attempt): onForwardTimeout(request, attempt)
        case .quorumResend(let key, let epoch): resendQuorum(key, epoch)
        case .repair(let key, let epoch): repairCopies(key, epoch)
        case .flushResend(let flush): resendFlush(flush)
        case .predict: predictMoves()
        case .rttProbe: probeRtts()
        }
    }
}
