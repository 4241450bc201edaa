import DequeModule
import Foundation
import LisCore
import LisHTTP
import LisNBD
import LisWire
import Logging
import NIOCore
import NIOPosix

/// The node's shell: it owns the protocol core (`NodeCore`) and the block store, feeds the core
/// every input (client commands from NBD, Hive answers, timers) and applies the core's effects
/// in order. It is an actor whose executor is the node's event loop, so the NBD connections
/// served on that loop call it synchronously (`assumeIsolated`) with no hop per request.
public actor NodeRuntime {
    public nonisolated let loop: any EventLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }

    let logger: Logger
    var core: NodeCore
    let store: BlockStore
    /// The name of this node's region, as the activity log labels its clients' commands.
    let regionName: String
    let nodeID: NodeID
    let hiveCalls: AsyncStream<(HiveCallID, HiveRequest)>.Continuation
    let startedAt = NIODeadline.now()
    let allocator = ByteBufferAllocator()
    var probeFile: Int32 = -1
    nonisolated let metrics: Metrics
    /// Per NBD operation (`ClientOp.rawValue`), its latency and error series (made once:
    /// every command records).
    nonisolated let requestSeries: [(latency: Metrics.Series, errors: Metrics.Series)]
    /// The core's Hive calls in flight: when each was made, and its metric label.
    var hiveCallsMade: [HiveCallID: (at: NIODeadline, call: String)] = [:]

    /// A client command split into one part per block.
    struct PendingCommand {
        var responder: NBDResponder
        var remaining: Int
        /// The operation, and when the command arrived.
        var op: ClientOp
        var arrived: NIODeadline
        var error: NBDError?
        /// Reads: the reply buffer, filled part by part.
        var readBuffer: ByteBuffer?
        /// What the dashboard's activity log records of it: the volume, its blocks, its bytes.
        var volume: String?
        var blocks: ClosedRange<UInt64>?
        var bytes: UInt64 = 0
    }
    struct Part {
        var command: UInt64
        /// Where this part's bytes sit in the command's read buffer.
        var bufferOffset: Int
        /// A write's bytes for this part, held for the core as `Payload.external` (handle = the
        /// part's id) until the part is answered: a write may wait (a steal in progress) before
        /// it is stored.
        var data: ByteBuffer? = nil
    }
    var commands: [SequenceKey: PendingCommand] = [:]
    var parts: [SequenceKey: Part] = [:]
    var nextID: UInt64 = 1
    /// Bytes read for the core's held reads (`NodeEffect.holdRead`), until answered or dropped.
    var heldReads: [SequenceKey: [UInt8]] = [:]
    var inputs: Deque<NodeInput> = []
    var stepping = false
    /// Answers to NBD commands, sent to their connections' loops when a step (or a batch of
    /// commands) ends: one task per connection, not one per answer.
    var replies = NBDReplyBatch()
    var handlingCommands = false
    /// `sync` effects (their tokens) waiting for the next sync, and the one running off the
    /// event loop with the tokens it answers: a FLUSH waits for the disk, other I/O does not.
    var syncsWaiting: [UInt64] = []
    var syncRunning: (job: BlockStore.SyncJob, tokens: [UInt64])?
    /// Where a sync's system calls run (one at a time: the store runs one sync at a time).
    let syncThread = NIOThreadPool(numberOfThreads: 1)
    /// Large client writes are stored on a thread of their own (`BlockStore.queueWrite`) while
    /// the loop reads the next commands; their answers (every `written` answer given while any
    /// write is behind) wait for the job that stores them. Smaller ones are stored at once: the
    /// two thread wake-ups a hand-over costs (tens of µs on a virtual machine) are about what
    /// copying 128 KiB into the page cache takes, so below that nothing is gained (BENCHMARKS,
    /// "Large writes stored behind").
    static let writeBehindBytes = 128 << 10
    var answersBehind: Deque<(job: UInt64, id: ClientRequestID, position: LogPosition)> = []
    let writeThread = NIOThreadPool(numberOfThreads: 1)
    /// Set after a storage failure: the node stops acknowledging anything (fail-stop).
    var failure: String?
    /// The peer transport of a cluster node; nil for a one-node cluster, whose core never
    /// needs to send.
    var transport: PeerTransport?
    /// Members whose keep-alive lapsed in Hive (`setLapsed`).
    private(set) var lapsed: Set<NodeID> = []
    /// What this node's clients did and what it decided, for the dashboard (`GET /v1/activity`).
    private(set) var activity = ActivityLog()
    /// Decisions as they happen, to every `/v1/events` stream.
    nonisolated let decisionFeed = DecisionFeed()

    init(
        loop: any EventLoop, core: NodeCore, store: BlockStore, dataDirectory: String,
        hiveCalls: AsyncStream<(HiveCallID, HiveRequest)>.Continuation, metrics: Metrics, logger: Logger
    ) {
        self.loop = loop
        self.metrics = metrics
        requestSeries = ClientOp.allCases.map {
            (metrics.series(NodeMetrics.clientRequest, [("op", $0.label)]), metrics.series(NodeMetrics.clientErrors, [("op", $0.label)]))
        }
        self.core = core
        self.store = store
        regionName = core.map.region(of: core.id)?.name ?? ""
        nodeID = core.id
        self.hiveCalls = hiveCalls
        self.logger = logger
        probeFile = open(dataDirectory + "/probe", O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        syncThread.start()
        writeThread.start()
    }

    // MARK: Clock

    func now() -> Instant { Instant(us: (NIODeadline.now() - startedAt).nanoseconds / 1000) }
    func wallMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: Inputs

    func start() {
        drive { $0.start(now: now(), wallMs: wallMs()) }
    }

    /// Queues an input and, unless a step is already applying effects, steps until the queue
    /// is empty. Inputs produced while effects are applied (a completed sync, a timer) wait
    /// for the current effect list to finish, so effects are never reordered.
    func input(_ input: NodeInput) {
        if case .hive(let call, _) = input, let made = hiveCallsMade.removeValue(forKey: call) {
            metrics.observe(NodeMetrics.hiveCall, [("call", made.call)], seconds: Self.seconds(since: made.at))
        }
        inputs.append(input)
        guard !stepping else { return }
        drive { _ in [] }
    }

    /// Applies what `call` asks of the core, then every input the effects queued (a probe's
    /// answer, a sync's): an input queued by an effect is never left waiting for the next
    /// outside event.
    private func drive(_ call: (inout NodeCore) -> [NodeEffect]) {
        let nested = stepping
        stepping = true
        apply(call(&core))
        guard !nested else { return }
        defer { stepping = false }
        repeat {
            while let next = inputs.popFirst() {
                apply(core.step(next, now: now(), wallMs: wallMs()))
            }
            // A connection given its answers may decode commands it held back; they arrive as
            // inputs while this step still runs, so drain again.
            if !handlingCommands {
                handOverWrites()
                sendReplies()
            }
        } while !inputs.isEmpty
    }

    /// Sends the answers gathered so far. The batch is taken out first: sending may bring in
    /// new commands (a connection decodes what it held back), whose answers start a new one.
    private func sendReplies() {
        guard !replies.isEmpty else { return }
        var batch = replies
        replies = NBDReplyBatch()
        batch.send()
    }

    // MARK: NBD commands

    /// Serves the commands one pass over a connection's bytes decoded, then sends what was
    /// answered meanwhile.
    func handle(_ commands: [NBDDispatch]) {
        let nested = handlingCommands
        handlingCommands = true
        defer {
            if !nested {
                handlingCommands = false
                handOverWrites()
                sendReplies()
            }
        }
        // The commands of a pass are mostly on one export: one lookup of its name, not one each.
        var last: (name: String, volume: VolumeSpec?)?
        for c in commands {
            if last?.name != c.export.name { last = (c.export.name, volumeByName[c.export.name]) }
            if let volume = last?.volume {
                handle(c.command, volume: volume, responder: c.responder)
            } else {
                replies.fail(c.responder, .eio)  // deleted while connected
            }
        }
    }

    /// Serves one NBD command on `volume` (the export's volume).
    func handle(_ command: NBDCommand, volume: VolumeSpec, responder: NBDResponder) {
        if failure != nil {
            metrics.increment(requestSeries[ClientOp(command).rawValue].errors)
            replies.fail(responder, .eio)
            return
        }
        let id = nextID
        nextID += 1
        let arrived = NIODeadline.now()
        switch command {
        case .flush:
            commands[SequenceKey(id)] = PendingCommand(responder: responder, remaining: 1, op: .flush, arrived: arrived)
            parts[SequenceKey(id)] = Part(command: id, bufferOffset: 0)
            input(.clientFlush(id))
        case .read(let offset, let length):
            submit(id, volume, offset, UInt64(length), responder, readLength: Int(length), op: .read, arrived: arrived) { _, within, partLength, _ in
                (.read(offset: within, length: partLength), nil)
            }
        case .write(let offset, let data, let fua):
            // A cluster node's core may send a write's data after the client has its answer
            // (the async copy to other regions), so it gets its own bytes; a one-node cluster
            // stores the network buffer as it is.
            let copies = transport != nil
            submit(id, volume, offset, UInt64(data.readableBytes), responder, readLength: nil, op: .write, arrived: arrived) {
                handle, within, partLength, at in
                let slice = data.getSlice(at: data.readerIndex + at, length: Int(partLength))!
                if copies {
                    return (.write(BlockWrite(offset: within, length: partLength, fua: fua, data: .bytes(Array(buffer: slice)))), nil)
                }
                return (.write(BlockWrite(offset: within, length: partLength, fua: fua, data: .external(handle))), slice)
            }
        case .trim(let offset, let length, let fua), .writeZeroes(let offset, let length, let fua, _):
            submit(id, volume, offset, UInt64(length), responder, readLength: nil, op: ClientOp(command), arrived: arrived) {
                _, within, partLength, _ in
                (.write(BlockWrite(offset: within, length: partLength, fua: fua, data: .zeros)), nil)
            }
        }
    }

    /// Splits a byte range into per-block operations and gives each to the core; `makeOp` makes
    /// a part's operation, and for a write held as `Payload.external` the bytes to hold with it.
    private func submit(
        _ id: UInt64, _ volume: VolumeSpec, _ offset: UInt64, _ length: UInt64, _ responder: NBDResponder,
        readLength: Int?, op: ClientOp, arrived: NIODeadline, _ makeOp: (UInt64, UInt32, UInt32, Int) -> (BlockOp, ByteBuffer?)
    ) {
        let blockSize = volume.blockSizeBytes
        let blocks = length == 0 ? nil : offset / blockSize...(offset + length - 1) / blockSize
        // A read's buffer is made here and lives only in the table: a reference kept by a caller
        // while the parts are served (at once, by a local holder) would make filling it copy it.
        commands[SequenceKey(id)] = PendingCommand(
            responder: responder, remaining: blocks?.count ?? 0, op: op, arrived: arrived,
            readBuffer: readLength.map { length in
                var buffer = allocator.buffer(capacity: length)
                buffer.moveWriterIndex(forwardBy: length)
                return buffer
            }, volume: volume.name.name, blocks: blocks, bytes: length)
        var at = offset
        while at < offset + length {
            let block = at / blockSize
            let end = min(offset + length, (block + 1) * blockSize)
            let partID = at == offset ? id : nextID
            if at != offset { nextID += 1 }
            let bufferOffset = Int(at - offset)
            let (op, data) = makeOp(partID, UInt32(at - block * blockSize), UInt32(end - at), bufferOffset)
            parts[SequenceKey(partID)] = Part(command: id, bufferOffset: bufferOffset, data: data)
            input(.client(partID, BlockKey(volume.name, BlockID(block)), op))
            at = end
        }
    }

    // MARK: Effects

    private func apply(_ effects: [NodeEffect]) {
        for effect in effects {
            // After a storage failure nothing but errors and logs leaves this node: an ack, a
            // fence reply or a transfer sent after a write it did not store would vouch for
            // data it does not have. Replies go out as EIO (`reply`).
            if failure != nil {
                switch effect {
                case .reply, .event: break
                default: continue
                }
            }
            do {
                if !answersBehind.isEmpty || store.hasWritesBehind, !Self.goesWithWritesBehind(effect) {
                    try storeWritesBehind()
                }
                try apply(effect)
            } catch {
                failStop("storage failed: \(error)")
                releaseAnswers()
            }
        }
    }

    /// Effects that may be applied while writes are still being stored: a write that is
    /// queued behind them, an answer that waits for them, and what touches no data.
    private static func goesWithWritesBehind(_ effect: NodeEffect) -> Bool {
        switch effect {
        case .persistWrite, .reply(_, .written), .reply(_, .failed), .armTimer, .event: true
        default: false
        }
    }

    /// Waits until every write behind is stored, and gives their answers.
    private func storeWritesBehind() throws {
        defer { releaseAnswers() }
        try store.drainWrites()
    }

    /// Hands the writes queued in this pass to the write thread.
    private func handOverWrites() {
        guard let job = store.takeQueuedWrites() else { return }
        writeThread.submit { [loop] _ in
            job.run()
            loop.execute { self.assumeIsolated { $0.writesRan() } }
        }
    }

    /// A write job ran: its answers go out (EIO for all if it failed, or if another caller
    /// waiting for it found it failed first).
    private func writesRan() {
        do { try store.reapWrites() } catch { failStop("storage failed: \(error)") }
        if failure == nil, let stored = store.failure { failStop("storage failed: \(stored)") }
        releaseAnswers()
        if !stepping && !handlingCommands { sendReplies() }
    }

    /// Gives the answers whose writes are stored, in order; all of them after a failure
    /// (`reply` answers EIO then).
    private func releaseAnswers() {
        while let first = answersBehind.first, failure != nil || first.job <= store.writesStoredThrough {
            answersBehind.removeFirst()
            reply(first.id, .written(first.position))
        }
    }

    /// A write's id if another node's client sent it: the store keeps those so that one
    /// retried after this node restarted is recognised (`StoreState.recent`). Its own clients'
    /// writes never come again once the process is gone, and keeping none is free.
    private func foreign(_ id: RequestID?) -> RequestID? {
        guard let id, id.origin != nodeID else { return nil }
        return id
    }

    private func apply(_ effect: NodeEffect) throws {
        switch effect {
        case .persistWrite(let key, let position, let write, let durable):
            if case .external(let handle) = write.data {
                guard let data = parts[SequenceKey(handle)]?.data else { preconditionFailure("write data \(handle) was released before it was stored") }
                if !durable && data.readableBytes >= Self.writeBehindBytes {
                    _ = try store.queueWrite(key, offsetInBlock: write.offset, data: data, at: position)
                    return
                }
                try data.withUnsafeReadableBytes { bytes in
                    try store.write(key, offsetInBlock: write.offset, bytes: bytes, at: position, durable: durable, id: foreign(write.id))
                }
            } else {
                try store.apply(write: write, at: position, to: key, durable: durable, id: foreign(write.id))
            }
        case .persistPromise(let key, let epoch):
            try store.promise(key, epoch)
        case .installTransfer(let key, let payload, let upTo, let recent):
            let image: [UInt8]?
            switch payload {
            case .bytes(let bytes)?: image = bytes
            case nil: image = nil
            default: preconditionFailure("transfers arrive resolved")
            }
            try store.install(key, image: image, upTo: upTo, recent: recent.filter { $0.id.origin != nodeID })
        case .sync(let token):
            syncsWaiting.append(token)
            try startSync()
        case .probe(let token):
            probe()
            inputs.append(.probed(token))
        case .holdRead(let handle, let key, let offset, let length):
            heldReads[SequenceKey(handle)] = try store.read(key, offsetInBlock: offset, length: length)
        case .dropHeldRead(let handle):
            heldReads[SequenceKey(handle)] = nil
        case .send(let to, let envelope):
            guard let transport else {
                logger.warning("no peer transport in a one-node cluster; dropped a message", metadata: ["to": "\(to)"])
                return
            }
            var resolved = envelope
            resolved.message = try resolve(envelope.message)
            transport.send(resolved, to: to)
        case .hive(let call, let request):
            hiveCallsMade[call] = (NIODeadline.now(), NodeMetrics.call(request))
            hiveCalls.yield((call, request))
        case .reply(let id, .written(let position)) where store.hasWritesBehind:
            answersBehind.append((store.newestWriteJob, id, position))
        case .reply(let id, let result):
            reply(id, result)
        case .armTimer(let timer, let at):
            let delay = TimeAmount.microseconds(max(0, at.us - now().us))
            loop.scheduleTask(in: delay) { [self] in
                self.assumeIsolated { $0.input(.timer(timer)) }
            }
        case .event(let event):
            log(event)
        }
    }

    private func reply(_ id: ClientRequestID, _ result: ClientResult) {
        // Taken out of the table while it changes: a copy left there would make the read
        // buffer shared, and filling it would copy it (a megabyte per 1 MiB read).
        guard let part = parts.removeValue(forKey: SequenceKey(id)), var command = commands.removeValue(forKey: SequenceKey(part.command)) else { return }
        switch result {
        case .written, .flushed:
            break
        case .read(.held(let handle)):
            guard let bytes = heldReads.removeValue(forKey: SequenceKey(handle)) else { preconditionFailure("held read \(handle) answered twice") }
            command.readBuffer!.setBytes(bytes, at: command.readBuffer!.readerIndex + part.bufferOffset)
        case .read(.bytes(let bytes)):
            // Served by a holder in another node, forwarded back.
            let length = min(bytes.count, command.readBuffer!.readableBytes - part.bufferOffset)
            command.readBuffer!.setBytes(bytes.prefix(length), at: command.readBuffer!.readerIndex + part.bufferOffset)
        case .read(.zeros):
            logger.error("a read was answered with a zeros payload, which no holder sends")
            command.error = .eio
        case .read(let payload):
            guard case .read(let key, let offset, let length) = payload else {
                preconditionFailure("a read answered with \(payload)")
            }
            do {
                try command.readBuffer!.withUnsafeMutableReadableBytes { buffer in
                    let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[part.bufferOffset..<part.bufferOffset + Int(length)])
                    try store.read(key, offsetInBlock: offset, length: length, into: slice)
                }
            } catch {
                logger.error("read failed: \(error)")
                command.error = .eio
            }
        case .failed(let error):
            command.error = command.error ?? (error == .outOfRange ? .einval : .eio)
        }
        command.remaining -= 1
        guard command.remaining == 0 else {
            commands[SequenceKey(part.command)] = command
            return
        }
        let series = requestSeries[command.op.rawValue]
        let seconds = Self.seconds(since: command.arrived)
        metrics.observe(series.latency, seconds: seconds)
        activity.record(
            command.op.activity, volume: command.volume, blocks: command.blocks,
            bytes: command.bytes, latencyMs: seconds * 1000, region: regionName, node: core.id.name,
            atMs: wallMs())
        if let error = failure.map({ _ in NBDError.eio }) ?? command.error {
            metrics.increment(series.errors)
            replies.fail(command.responder, error)
        } else if let data = command.readBuffer {
            replies.succeed(command.responder, data: data)
        } else {
            replies.succeed(command.responder)
        }
    }

    // MARK: Peers

    func setTransport(_ transport: PeerTransport) { self.transport = transport }

    /// A message from an authenticated peer (the transport checked who sent it).
    func receive(_ envelope: PeerEnvelope) {
        input(.peer(envelope))
    }

    /// The members Hive lists, in the order they registered: new ones join the core's map and
    /// every address goes to the transport.
    func setMembers(_ members: [HiveMember]) {
        // Addresses first: the core may message a joiner at once (a round-trip probe).
        if let transport {
            for member in members where member.node != core.id {
                guard let address = member.address, let (host, port) = try? NodeSettings.hostPort(address),
                    let socket = try? SocketAddress.makeAddressResolvingHost(host, port: port)
                else { continue }
                transport.setAddress(socket, of: member.node, region: member.region)
            }
        }
        let nodes = members.map { ($0.node, $0.region) }
        let known = core.map.regions.reduce(0) { $0 + core.map.nodes(in: $1).count }
        drive { $0.setMembers(nodes, now: now(), wallMs: wallMs()) }
        let after = core.map.regions.reduce(0) { $0 + core.map.nodes(in: $1).count }
        if after != known {
            logger.info("members: \(members.map { "\($0.node) (\($0.region))" }.joined(separator: ", "))")
        }
    }

    /// Whether placement is paused here (`lis policy pause`; Hive holds the cluster's switch).
    var placementPaused: Bool { core.placementPaused }

    func setPlacementPaused(_ paused: Bool) {
        guard paused != core.placementPaused else { return }
        core.placementPaused = paused
        logger.notice(paused ? "placement paused by an operator: this node starts no move of its own" : "placement resumed")
    }

    /// The nodes an operator drained (Hive's list, read every second): logged when it changes.
    func setDrained(_ nodes: Set<NodeID>) {
        guard nodes != core.drained else { return }
        for node in nodes.subtracting(core.drained).sorted() { logger.notice("member \(node) drained by an operator: nothing moves to it") }
        for node in core.drained.subtracting(nodes).sorted() { logger.notice("member \(node) undrained") }
        core.drained = nodes
    }

    /// The Q2 regions of a volume's never-moved blocks (held by its home node at epoch 0).
    func homeQuorumRegions(of volume: VolumeSpec) -> [RegionID] {
        core.map.quorumRegions(for: volume.home, volume: volume)
    }

    /// The regions of the cluster's members.
    var regions: [RegionID] { core.map.regions }

    /// The dashboard's figures: round trips between regions as measured, this node's Hive round trip.
    func dashboardFigures() -> (rtt: [RegionID: [RegionID: Double]], hiveMs: Double?) { (core.rttMatrixMs, core.hiveRttMs) }

    /// This node's activity in `[sinceMs, untilMs)` (`GET /v1/activity`).
    func activitySnapshot(sinceMs: Int64, untilMs: Int64) -> ActivitySnapshot { activity.snapshot(sinceMs: sinceMs, untilMs: untilMs) }

    /// The blocks that moved here lately, oldest first (`GET /v1/moves`).
    func recentMoves(limit: Int = 1_000) -> [MoveInfo] {
        activity.moveDecisions.suffix(limit).compactMap { d in
            guard d.node == core.id.name, let reason = d.reason else { return nil }
            return MoveInfo(
                volume: d.volume, block: d.block, epoch: d.epoch ?? 0, from: d.from ?? "", steal_ms: d.steal_ms ?? 0, reason: reason,
                at_ms: d.at_ms)
        }
    }

    /// An operator's move (`lis block move`): steals the blocks here if this node is in
    /// `target`, else asks a live node there to. Returns the node that takes them.
    func requestMove(_ keys: [BlockKey], to target: RegionID) -> NodeID? {
        var taker: NodeID?
        drive { core in
            let (node, effects) = core.requestMove(keys, to: target, now: now(), wallMs: wallMs())
            taker = node
            return effects
        }
        if let taker { logger.notice("an operator moves \(keys.count) blocks to \(target)", metadata: ["taker": "\(taker)"]) }
        return taker
    }

    /// The members whose keep-alive lapsed in Hive: logged when the set changes, given to the
    /// core (which may take over the blocks they held).
    func setLapsed(_ nodes: Set<NodeID>) {
        let lapsed = nodes.subtracting([core.id])
        guard lapsed != self.lapsed else { return }
        for node in lapsed.subtracting(self.lapsed).sorted() { logger.notice("member \(node) lapsed in Hive: dead or cut off") }
        for node in self.lapsed.subtracting(lapsed).sorted() { logger.notice("member \(node) is alive again") }
        self.lapsed = lapsed
        core.setLapsed(lapsed)
    }

    /// Fills the references into this node's storage and buffers that a message names, so it
    /// can leave the node: write data held for a client, reads, and transfers (the block's
    /// whole image, which the receiver installs).
    private func resolve(_ message: PeerMessage) throws -> PeerMessage {
        switch message {
        case .forward(var op):
            if case .write(var write) = op.op {
                write.data = try resolve(write.data)
                op.op = .write(write)
            }
            return .forward(op)
        case .forwardReply(let id, .read(let payload)):
            return .forwardReply(id, .read(try resolve(payload)))
        case .accept(let key, let position, let previous, var write):
            write.data = try resolve(write.data)
            return .accept(key, position: position, previous: previous, write: write)
        case .replicate(let key, let position, let previous, var write):
            write.data = try resolve(write.data)
            return .replicate(key, position: position, previous: previous, write: write)
        case .fenced(let key, let epoch, let position, let transfer?, let refused, let recent):
            return .fenced(
                key, epoch: epoch, position: position, transfer: try resolve(transfer), refusedFor: refused, recent: recent)
        case .transferReply(let key, let epoch, let transfer, let upTo):
            return .transferReply(key, epoch: epoch, transfer: try resolve(transfer), upTo: upTo)
        case .install(let key, let epoch, let transfer, let after, let upTo, let recent):
            return .install(key, epoch: epoch, transfer: try resolve(transfer), after: after, upTo: upTo, recent: recent)
        case .handOver(let key, .claimed(let claim, let position, let transfer?, let recent), let reason, let rates):
            return .handOver(
                key, .claimed(claim, position: position, transfer: try resolve(transfer), recent: recent), reason: reason,
                rates: rates)
        default:
            return message
        }
    }

    private func resolve(_ payload: Payload) throws -> Payload {
        switch payload {
        case .bytes, .zeros:
            return payload
        case .external(let handle):
            guard let buffer = parts[SequenceKey(handle)]?.data else { preconditionFailure("write data \(handle) was released before it was sent") }
            return .bytes(Array(buffer: buffer))
        case .held(let handle):
            guard let bytes = heldReads.removeValue(forKey: SequenceKey(handle)) else { preconditionFailure("held read \(handle) sent twice") }
            return .bytes(bytes)
        case .read(let key, let offset, let length):
            return .bytes(try store.read(key, offsetInBlock: offset, length: length))
        case .transfer(let key, _, _):
            return .bytes(try store.exportImage(key))
        }
    }

    /// Times a small synchronous persist, what a local write costs at least.
    private func probe() {
        guard probeFile >= 0 else { return }
        var page = [UInt8](repeating: 0, count: 4096)
        _ = page.withUnsafeMutableBytes { pwrite(probeFile, $0.baseAddress, 4096, 0) }
    }

    /// An NBD command's kind: its metric label and what the activity log counts it as.
    enum ClientOp: Int, CaseIterable {
        case read, write, flush, trim, writeZeroes

        init(_ command: NBDCommand) {
            switch command {
            case .read: self = .read
            case .write: self = .write
            case .flush: self = .flush
            case .trim: self = .trim
            case .writeZeroes: self = .writeZeroes
            }
        }

        var label: String {
            switch self {
            case .read: "read"
            case .write: "write"
            case .flush: "flush"
            case .trim: "trim"
            case .writeZeroes: "write_zeroes"
            }
        }

        var activity: ActivityLog.Operation {
            switch self {
            case .read: .read
            case .flush: .flush
            case .write, .trim, .writeZeroes: .write
            }
        }
    }

    static func seconds(since start: NIODeadline) -> Double {
        Double((NIODeadline.now() - start).nanoseconds) / 1e9
    }

    /// Counts steals.
    private func count(_ event: NodeEvent) {
        switch event {
        case .stealStarted(_, _, let reason):
            metrics.increment(NodeMetrics.stealsStarted, [("cause", reason.cause)])
        case .moved(_, _, _, let stealMs, let reason):
            metrics.increment(NodeMetrics.stealsCompleted, [("cause", reason.cause)])
            metrics.observe(NodeMetrics.stealSeconds, seconds: stealMs / 1000)
        case .stealAbandoned:
            metrics.increment(NodeMetrics.stealsAbandoned)
        case .holding, .fenced, .declined:
            break
        }
    }

    private func log(_ event: NodeEvent) {
        count(event)
        let map = core.map
        if let region = map.region(of: core.id),
            let decision = Decision(event, node: core.id, region: region, atMs: wallMs(), regionOf: { map.region(of: $0) })
        {
            activity.record(decision)
            if decision.kind != .declined { decisionFeed.publish(decision) }
        }
        switch event {
        case .moved(let key, let epoch, let from, let stealMs, let reason):
            logger.info("block moved here", metadata: ["block": "\(key)", "epoch": "\(epoch)", "from": "\(from)", "steal_ms": "\(stealMs)", "reason": "\(reason.text)"])
        case .stealStarted(let key, let from, let reason):
            logger.info("stealing block", metadata: ["block": "\(key)", "from": "\(from)", "reason": "\(reason.text)"])
        case .stealAbandoned(let key, let reason):
            logger.notice("steal abandoned", metadata: ["block": "\(key)", "reason": "\(reason.text)"])
        case .fenced(let key, let epoch):
            logger.info("block fenced: no longer served here", metadata: ["block": "\(key)", "epoch": "\(epoch)"])
        case .holding(let key, let epoch):
            logger.debug("serving block", metadata: ["block": "\(key)", "epoch": "\(epoch)"])
        case .declined(let key, let to, let reason):
            logger.debug("move declined", metadata: ["block": "\(key)", "to": "\(to)", "reason": "\(reason.text(to: to))"])
        }
    }

    /// Starts a sync for every waiting `sync` effect unless one runs; answers them at once if
    /// nothing was written since the last (`.synced` inputs, queued as effects' inputs are).
    private func startSync() throws {
        guard syncRunning == nil, !syncsWaiting.isEmpty else { return }
        let tokens = syncsWaiting
        syncsWaiting.removeAll()
        guard let job = try store.beginSync() else {
            try store.sync()  // nothing was written since the last sync: no system call (or the store's error)
            inputs.append(contentsOf: tokens.map(NodeInput.synced))
            return
        }
        syncRunning = (job, tokens)
        syncThread.submit { [loop] _ in
            job.run()
            loop.execute { self.assumeIsolated { $0.syncRan(job) } }
        }
    }

    /// A sync's system calls are done: its tokens are synced, and the next sync starts.
    private func syncRan(_ job: BlockStore.SyncJob) {
        guard let running = syncRunning, running.job === job else { return }
        syncRunning = nil
        do {
            try store.finishSync(job)
            inputs.append(contentsOf: running.tokens.map(NodeInput.synced))
            try store.checkpointIfDue()
            try startSync()
        } catch {
            failStop("storage failed: \(error)")
        }
        if !stepping { drive { _ in [] } }
    }

    private func failStop(_ message: String) {
        if failure == nil {
            logger.critical("\(message); the node stops: it answers clients with EIO, sends peers nothing and lets its membership lapse (fail-stop)")
        }
        failure = message
    }

    // MARK: Volumes and status (called by the API through the actor)

    func setVolumes(_ volumes: [VolumeSpec]) {
        core.setVolumes(volumes)
        self.volumes = volumes.sorted { $0.name < $1.name }
        volumeByName = Dictionary(uniqueKeysWithValues: volumes.map { ($0.name.name, $0) })
    }

    /// The volumes, sorted by name, and by export name (looked up on every NBD command).
    private(set) var volumes: [VolumeSpec] = []
    private(set) var volumeByName: [String: VolumeSpec] = [:]
    var servedBlocks: Int { core.servedBlocks }
    var uptimeSeconds: Double { Double((NIODeadline.now() - startedAt).nanoseconds) / 1e9 }
    var failed: String? { failure }

    /// Syncs everything and closes the store: the last step of a clean shutdown.
    func close() {
        do { try store.sync() } catch { logger.error("final sync failed: \(error)") }
        syncRunning = nil
        syncsWaiting.removeAll()
        try? syncThread.syncShutdownGracefully()
        try? writeThread.syncShutdownGracefully()
        store.close()
        if probeFile >= 0 { Foundation.close(probeFile) }
        probeFile = -1
    }
}

extension NodeRuntime {
    /// This node's part of `GET /v1/cluster`: measured round trips, served blocks, steals.
    func clusterFigures() -> (
        rtts: [String: Double], served: Int, steals: Int, peers: PeerTransportCounters?, inFlight: InFlightInfo
    ) {
        (
            Dictionary(uniqueKeysWithValues: core.measuredRttMs.map { ($0.key.name, $0.value) }), servedBlocks,
            core.stealsInFlight, transport?.snapshot,
            InFlightInfo(nbdCommands: commands.count, inputsQueued: inputs.count, core: core.workInFlight)
        )
    }

    func statusFigures() -> (volumes: Int, served: Int, uptime: Double) { (volumes.count, servedBlocks, uptimeSeconds) }
    func metricFigures() -> (served: Int, failed: Bool, transport: PeerTransportCounters?) {
        (servedBlocks, failure != nil, transport?.snapshot)
    }

    /// Makes storage match Hive's volumes (created, grown or deleted through another node),
    /// then gives them to the core. Idempotent: the API's own changes pass through it too.
    func adoptVolumes(_ volumes: [VolumeSpec]) throws {
        for volume in volumes {
            if let have = store.volume(volume.name) {
                if have.sizeBytes < volume.sizeBytes { try store.resizeVolume(volume.name, sizeBytes: volume.sizeBytes) }
            } else {
                try store.createVolume(volume.name, sizeBytes: volume.sizeBytes, blockSizeBytes: volume.blockSizeBytes)
            }
        }
        for name in store.volumes.keys.sorted() where !volumes.contains(where: { $0.name == name }) {
            try store.deleteVolume(name)
        }
        setVolumes(volumes)
    }

    func createVolumeStorage(_ spec: VolumeSpec) throws {
        // The member refresh of a cluster node may have adopted it already.
        if store.volume(spec.name) != nil { return }
        try store.createVolume(spec.name, sizeBytes: spec.sizeBytes, blockSizeBytes: spec.blockSizeBytes)
    }

    func deleteVolumeStorage(_ name: VolumeName) throws {
        if store.volume(name) == nil { return }
        try store.deleteVolume(name)
    }

    func resizeVolumeStorage(_ spec: VolumeSpec) throws {
        try store.resizeVolume(spec.name, sizeBytes: spec.sizeBytes)
    }
}
