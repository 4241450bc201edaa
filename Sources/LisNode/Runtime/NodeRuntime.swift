import DequeModule
import Foundation
import LisCore
import LisNBD
import Logging
import NIOCore

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
    let hiveCalls: AsyncStream<(HiveCallID, HiveRequest)>.Continuation
    let startedAt = NIODeadline.now()
    let allocator = ByteBufferAllocator()
    var probeFile: Int32 = -1

    /// A client command split into one part per block.
    struct PendingCommand {
        var responder: NBDResponder
        var remaining: Int
        var error: NBDError?
        /// Reads: the reply buffer, filled part by part.
        var readBuffer: ByteBuffer?
    }
    struct Part {
        var command: UInt64
        /// Where this part's bytes sit in the command's read buffer.
        var bufferOffset: Int
    }
    var commands: [UInt64: PendingCommand] = [:]
    var parts: [ClientRequestID: Part] = [:]
    var nextID: UInt64 = 1
    /// Write data held for the core as `Payload.external` (handle = the part's id), released
    /// when the part is answered: a write may wait (a steal in progress) before it is stored.
    var external: [UInt64: ByteBuffer] = [:]
    /// Bytes read for the core's held reads (`NodeEffect.holdRead`), until answered or dropped.
    var heldReads: [UInt64: [UInt8]] = [:]
    var inputs: Deque<NodeInput> = []
    var stepping = false
    /// Set after a storage failure: the node stops acknowledging anything (fail-stop).
    var failure: String?

    init(
        loop: any EventLoop, core: NodeCore, store: BlockStore, dataDirectory: String,
        hiveCalls: AsyncStream<(HiveCallID, HiveRequest)>.Continuation, logger: Logger
    ) {
        self.loop = loop
        self.core = core
        self.store = store
        self.hiveCalls = hiveCalls
        self.logger = logger
        probeFile = open(dataDirectory + "/probe", O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
    }

    // MARK: Clock

    func now() -> Instant { Instant(us: (NIODeadline.now() - startedAt).nanoseconds / 1000) }
    func wallMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: Inputs

    func start() {
        apply(core.start(now: now(), wallMs: wallMs()))
    }

    /// Queues an input and, unless a step is already applying effects, steps until the queue
    /// is empty. Inputs produced while effects are applied (a completed sync, a timer) wait
    /// for the current effect list to finish, so effects are never reordered.
    func input(_ input: NodeInput) {
        inputs.append(input)
        guard !stepping else { return }
        stepping = true
        defer { stepping = false }
        while let next = inputs.popFirst() {
            apply(core.step(next, now: now(), wallMs: wallMs()))
        }
    }

    // MARK: NBD commands

    /// Serves one NBD command on `volume` (the export's volume).
    func handle(_ command: NBDCommand, volume: VolumeSpec, responder: NBDResponder) {
        if failure != nil {
            responder.fail(.eio)
            return
        }
        let id = nextID
        nextID += 1
        switch command {
        case .flush:
            commands[id] = PendingCommand(responder: responder, remaining: 1)
            parts[id] = Part(command: id, bufferOffset: 0)
            input(.clientFlush(id))
        case .read(let offset, let length):
            var buffer = allocator.buffer(capacity: Int(length))
            buffer.moveWriterIndex(forwardBy: Int(length))
            submit(id, volume, offset, UInt64(length), responder, readBuffer: buffer) { _, within, partLength, _ in
                .read(offset: within, length: partLength)
            }
        case .write(let offset, let data, let fua):
            submit(id, volume, offset, UInt64(data.readableBytes), responder, readBuffer: nil) { handle, within, partLength, at in
                self.external[handle] = data.getSlice(at: data.readerIndex + at, length: Int(partLength))
                return .write(BlockWrite(offset: within, length: partLength, fua: fua, data: .external(handle)))
            }
        case .trim(let offset, let length, let fua), .writeZeroes(let offset, let length, let fua, _):
            submit(id, volume, offset, UInt64(length), responder, readBuffer: nil) { _, within, partLength, _ in
                .write(BlockWrite(offset: within, length: partLength, fua: fua, data: .zeros))
            }
        }
    }

    /// Splits a byte range into per-block operations and gives each to the core.
    private func submit(
        _ id: UInt64, _ volume: VolumeSpec, _ offset: UInt64, _ length: UInt64, _ responder: NBDResponder,
        readBuffer: ByteBuffer?, _ makeOp: (UInt64, UInt32, UInt32, Int) -> BlockOp
    ) {
        let blockSize = volume.blockSizeBytes
        var ranges: [(BlockID, UInt32, UInt32, Int)] = []
        var at = offset
        while at < offset + length {
            let block = at / blockSize
            let end = min(offset + length, (block + 1) * blockSize)
            ranges.append((BlockID(block), UInt32(at - block * blockSize), UInt32(end - at), Int(at - offset)))
            at = end
        }
        commands[id] = PendingCommand(responder: responder, remaining: ranges.count, readBuffer: readBuffer)
        for (i, (block, within, partLength, bufferOffset)) in ranges.enumerated() {
            let partID = i == 0 ? id : nextID
            if i > 0 { nextID += 1 }
            parts[partID] = Part(command: id, bufferOffset: bufferOffset)
            input(.client(partID, BlockKey(volume.name, block), makeOp(partID, within, partLength, bufferOffset)))
        }
    }

    // MARK: Effects

    private func apply(_ effects: [NodeEffect]) {
        for effect in effects {
            do {
                try apply(effect)
            } catch {
                failStop("storage failed: \(error)")
            }
        }
    }

    private func apply(_ effect: NodeEffect) throws {
        switch effect {
        case .persistWrite(let key, let position, let write, let durable):
            guard failure == nil else { return }
            if case .external(let handle) = write.data {
                guard let data = external[handle] else { preconditionFailure("write data \(handle) was released before it was stored") }
                try data.withUnsafeReadableBytes { bytes in
                    try store.write(key, offsetInBlock: write.offset, bytes: bytes, at: position, durable: durable)
                }
            } else {
                try store.apply(write: write, at: position, to: key, durable: durable)
            }
        case .persistPromise(let key, let epoch):
            try store.promise(key, epoch)
        case .installTransfer(let key, let payload, let upTo):
            switch payload {
            case .bytes(let image)?: try store.install(key, image: image, upTo: upTo)
            case nil: try store.sync()
            default: preconditionFailure("transfers arrive resolved")
            }
        case .sync(let token):
            try store.sync()
            inputs.append(.synced(token))
        case .probe(let token):
            probe()
            inputs.append(.probed(token))
        case .holdRead(let handle, let key, let offset, let length):
            heldReads[handle] = try store.read(key, offsetInBlock: offset, length: length)
        case .dropHeldRead(let handle):
            heldReads[handle] = nil
        case .send(let to, _):
            logger.warning("no peer transport in a one-node cluster; dropped a message", metadata: ["to": "\(to)"])
        case .hive(let call, let request):
            hiveCalls.yield((call, request))
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
        external[id] = nil
        guard let part = parts.removeValue(forKey: id), var command = commands[part.command] else { return }
        switch result {
        case .written, .flushed:
            break
        case .read(.held(let handle)):
            guard let bytes = heldReads.removeValue(forKey: handle) else { preconditionFailure("held read \(handle) answered twice") }
            command.readBuffer!.setBytes(bytes, at: command.readBuffer!.readerIndex + part.bufferOffset)
        case .read(let payload):
            guard case .read(let key, let offset, let length) = payload else {
                preconditionFailure("a local read is served from local storage")
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
            commands[part.command] = command
            return
        }
        commands[part.command] = nil
        if let error = failure.map({ _ in NBDError.eio }) ?? command.error {
            command.responder.fail(error)
        } else if let data = command.readBuffer {
            command.responder.succeed(data: data)
        } else {
            command.responder.succeed()
        }
    }

    /// Times a small synchronous persist, what a local write costs at least.
    private func probe() {
        guard probeFile >= 0 else { return }
        var page = [UInt8](repeating: 0, count: 4096)
        _ = page.withUnsafeMutableBytes { pwrite(probeFile, $0.baseAddress, 4096, 0) }
    }

    private func log(_ event: NodeEvent) {
        switch event {
        case .moved(let key, let epoch, let from, let stealMs, let reason):
            logger.info("block moved here", metadata: ["block": "\(key)", "epoch": "\(epoch)", "from": "\(from)", "steal_ms": "\(stealMs)", "reason": "\(reason)"])
        case .stealStarted(let key, let from, let reason):
            logger.info("stealing block", metadata: ["block": "\(key)", "from": "\(from)", "reason": "\(reason)"])
        case .stealAbandoned(let key, let reason):
            logger.notice("steal abandoned", metadata: ["block": "\(key)", "reason": "\(reason)"])
        case .fenced(let key, let epoch):
            logger.info("block fenced: no longer served here", metadata: ["block": "\(key)", "epoch": "\(epoch)"])
        case .holding(let key, let epoch):
            logger.debug("serving block", metadata: ["block": "\(key)", "epoch": "\(epoch)"])
        case .declined(let key, let to, let reason):
            logger.debug("move declined", metadata: ["block": "\(key)", "to": "\(to)", "reason": "\(reason)"])
        }
    }

    private func failStop(_ message: String) {
        if failure == nil { logger.critical("\(message); the node stops acknowledging I/O (fail-stop)") }
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
        store.close()
        if probeFile >= 0 { Foundation.close(probeFile) }
        probeFile = -1
    }
}

extension NodeRuntime {
    func statusFigures() -> (volumes: Int, served: Int, uptime: Double) { (volumes.count, servedBlocks, uptimeSeconds) }

    func createVolumeStorage(_ spec: VolumeSpec) throws {
        try store.createVolume(spec.name, sizeBytes: spec.sizeBytes, blockSizeBytes: spec.blockSizeBytes)
    }

    func deleteVolumeStorage(_ name: VolumeName) throws {
        try store.deleteVolume(name)
    }

    func resizeVolumeStorage(_ spec: VolumeSpec) throws {
        try store.resizeVolume(spec.name, sizeBytes: spec.sizeBytes)
    }
}
