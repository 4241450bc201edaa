import LisCore
import LisWire
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// What the transport counted: messages moved, and input it refused. A node never crashes on
/// network input; it closes the connection and counts why.
public struct PeerTransportCounters: Sendable, Equatable {
    /// Envelopes handed to the node, and sent to peers.
    public var delivered = 0
    public var sent = 0
    /// Connections closed because the peer did not prove the join secret (a wrong proof, a
    /// message before the proof, another cluster, or silence past the handshake timeout).
    public var unauthenticated = 0
    /// Connections closed on bytes that are not frames or messages.
    public var malformed = 0
    /// Envelopes whose sender is not the node that authenticated the connection.
    public var wrongSender = 0
    /// Messages dropped because the peer's address is unknown or its connection is down and
    /// its queue full (the core's retries handle loss).
    public var dropped = 0
    /// Connections that completed the handshake, both directions.
    public var authenticated = 0
    /// Frame bytes handed to each lane to send (a block's image travels in bulk), and bytes
    /// read from peers.
    public var controlBytesSent = 0
    public var bulkBytesSent = 0
    public var bytesReceived = 0
}

/// A fault a test switches on for one peer (WAN emulation only): the share of frames to it
/// and from it that are dropped (both 1: a blackhole; one of them: a one-way partition), and
/// what the emulated one-way delay of frames to it is multiplied by (a degraded link; set on
/// both ends, the round trip is that many times longer).
public struct PeerFault: Sendable, Equatable {
    public var sendLoss: Double
    public var receiveLoss: Double
    public var delayFactor: Double
    public init(sendLoss: Double = 0, receiveLoss: Double = 0, delayFactor: Double = 1) {
        self.sendLoss = sendLoss
        self.receiveLoss = receiveLoss
        self.delayFactor = delayFactor
    }
}

/// The peer transport: TCP between nodes, frames of `LisWire`, the join-secret handshake before
/// any message. Each node sends on the connections it opens and receives on those it accepts,
/// so a pair of nodes has connections each way and no election of who dials. Each way there
/// are two lanes: *control* (leases, fences, writes, acks) and *bulk* (messages that carry a
/// block's image, in chunks of at most 1 MiB), so a transfer never delays a fence.
///
/// Messages to a peer that is not connected wait in a bounded queue while the connection is
/// made; beyond it they are dropped and counted. Reconnects back off from 50 ms to 2 s.
public final class PeerTransport: Sendable {
    public struct Identity: Sendable {
        public var cluster: String
        public var node: NodeID
        public var region: RegionID
        public var secret: PeerSecret
        public init(cluster: String, node: NodeID, region: RegionID, secret: PeerSecret) {
            self.cluster = cluster
            self.node = node
            self.region = region
            self.secret = secret
        }
    }

    let identity: Identity
    let group: any EventLoopGroup
    let deliver: @Sendable (PeerEnvelope) -> Void
    let logger: Logger
    /// How long a connection may take to authenticate.
    let handshakeTimeout: TimeAmount
    private let state = Mutex(State())
    let counters = Mutex(PeerTransportCounters())

    /// The connection of one lane to one peer.
    enum Lane: Sendable, Hashable { case control, bulk }
    struct Link: Hashable, Sendable {
        var node: NodeID
        var lane: Lane
    }

    private struct State {
        var addresses: [NodeID: SocketAddress] = [:]
        var regions: [NodeID: RegionID] = [:]
        /// WAN emulation: when the last frame on each link leaves (frames keep their order),
        /// and when the link has finished sending the bytes given to it so far (bandwidth).
        var lastDeparture: [Link: NIODeadline] = [:]
        var busyUntil: [Link: NIODeadline] = [:]
        /// Faults switched on by tests, per peer.
        var faults: [NodeID: PeerFault] = [:]
        var outbound: [Link: Outbound] = [:]
        var listener: (any Channel)?
        var closed = false
    }

    /// A connection this node opens to a peer, and the frames waiting for it.
    private struct Outbound {
        var channel: (any Channel)?
        var connecting = false
        var queue: [ByteBuffer] = []
        var queuedBytes = 0
        var backoffMs: Int64 = 0
    }

    /// Frames and bytes queued per peer while its connection is made.
    static let maxQueuedFrames = 4096
    static let maxQueuedBytes = 256 << 20

    /// WAN emulation (`[wan] topology`): the one-way delay in milliseconds from this node's
    /// region to another; nil: none.
    let oneWayMs: (@Sendable (RegionID) -> Double)?
    /// WAN emulation (`[wan] bandwidth_mbit`): what each lane of a link between two regions
    /// carries, in bytes per millisecond; nil: unlimited.
    let bytesPerMs: Double?
    /// The loop that releases delayed frames, one for all so they leave in time order.
    let delayLoop: any EventLoop

    public init(
        identity: Identity, group: any EventLoopGroup, logger: Logger, handshakeTimeout: TimeAmount = .seconds(5),
        oneWayMs: (@Sendable (RegionID) -> Double)? = nil, bytesPerMs: Double? = nil,
        deliver: @escaping @Sendable (PeerEnvelope) -> Void
    ) {
        self.identity = identity
        self.group = group
        self.oneWayMs = oneWayMs
        self.bytesPerMs = bytesPerMs
        self.delayLoop = group.next()
        self.deliver = deliver
        self.logger = logger
        self.handshakeTimeout = handshakeTimeout
    }

    public var snapshot: PeerTransportCounters { counters.withLock { $0 } }

    /// The faults in force, per peer; setting them replaces every earlier one (`[:]` heals).
    public var faults: [NodeID: PeerFault] {
        get { state.withLock { $0.faults } }
        set { state.withLock { $0.faults = newValue } }
    }

    private func lost(_ node: NodeID, _ share: KeyPath<PeerFault, Double>) -> Bool {
        guard let fault = state.withLock({ $0.faults[node] }) else { return false }
        let p = fault[keyPath: share]
        return p >= 1 || (p > 0 && Double.random(in: 0..<1) < p)
    }

    // MARK: Listening

    /// Accepts peers on `host:port` (port 0: any free port); returns the bound address.
    public func listen(host: String, port: Int) async throws -> SocketAddress {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(self.handler(expecting: nil))
                }
            }
            .bind(host: host, port: port).get()
        state.withLock { $0.listener = channel }
        guard let address = channel.localAddress else { throw PeerTransportError("the peer listener has no address") }
        return address
    }

    // MARK: Sending

    /// Where a peer listens, and its region. A changed address closes the old connection.
    public func setAddress(_ address: SocketAddress, of node: NodeID, region: RegionID? = nil) {
        let old: [any Channel] = state.withLock { state in
            if let region { state.regions[node] = region }
            guard state.addresses[node] != address else { return [] }
            state.addresses[node] = address
            return [Lane.control, .bulk].compactMap { lane in
                let link = Link(node: node, lane: lane)
                defer { state.outbound[link]?.channel = nil }
                return state.outbound[link]?.channel
            }
        }
        for channel in old { channel.close(promise: nil) }
    }

    /// Sends an envelope to a peer, or drops it (counted) when that cannot be done now.
    public func send(_ envelope: PeerEnvelope, to node: NodeID) {
        if lost(node, \.sendLoss) {
            counters.withLock { $0.dropped += 1 }
            return
        }
        let frame: PeerFrame
        do {
            frame = try PeerCodec.encode(envelope)
        } catch {
            logger.error("cannot encode a peer message: \(error)")
            counters.withLock { $0.dropped += 1 }
            return
        }
        let link = Link(node: node, lane: envelope.message.travelsInBulk ? .bulk : .control)
        for frame in PeerChunks.split(frame) {
            var bytes = ByteBuffer()
            bytes.reserveCapacity(PeerFrame.headerBytes + frame.body.readableBytes)
            frame.write(to: &bytes)
            let size = bytes.readableBytes
            counters.withLock {
                if link.lane == .bulk { $0.bulkBytesSent += size } else { $0.controlBytesSent += size }
            }
            if let departure = emulatedDeparture(link, bytes: bytes.readableBytes) {
                delayLoop.scheduleTask(deadline: departure) { [self, bytes] in self.transmit(bytes, on: link) }
            } else {
                transmit(bytes, on: link)
            }
        }
    }

    /// WAN emulation: when a frame given to the link now arrives at the peer. The link sends
    /// its bytes one after the other at its bandwidth, then each takes the one-way delay, never
    /// arriving before the frame sent before it: a FIFO link, without a sleep per frame
    /// (`deliverAt = max(now, busyUntil) + size / bandwidth + oneWay`). Nil: at once.
    private func emulatedDeparture(_ link: Link, bytes: Int) -> NIODeadline? {
        guard let oneWayMs else { return nil }
        return state.withLock { state in
            guard let region = state.regions[link.node], region != identity.region || oneWayMs(region) > 0 else {
                return nil
            }
            let now = NIODeadline.now()
            var sent = now
            if let bytesPerMs, region != identity.region {
                sent = max(now, state.busyUntil[link] ?? .distantPast) + .nanoseconds(Int64(Double(bytes) / bytesPerMs * 1_000_000))
                state.busyUntil[link] = sent
            }
            let oneWay = oneWayMs(region) * (state.faults[link.node]?.delayFactor ?? 1)
            let at = max(sent + .nanoseconds(Int64(oneWay * 1_000_000)), state.lastDeparture[link] ?? .distantPast)
            state.lastDeparture[link] = at
            return at
        }
    }

    private func transmit(_ bytes: ByteBuffer, on link: Link) {
        enum Action { case write(any Channel), connect(SocketAddress), wait, drop }
        let action: Action = state.withLock { state in
            guard !state.closed, let address = state.addresses[link.node] else { return .drop }
            var out = state.outbound[link] ?? Outbound()
            defer { state.outbound[link] = out }
            if let channel = out.channel, out.queue.isEmpty { return .write(channel) }
            guard out.queue.count < Self.maxQueuedFrames, out.queuedBytes + bytes.readableBytes <= Self.maxQueuedBytes
            else { return .drop }
            out.queue.append(bytes)
            out.queuedBytes += bytes.readableBytes
            if out.connecting || out.channel != nil { return .wait }
            out.connecting = true
            return .connect(address)
        }
        switch action {
        case .write(let channel):
            counters.withLock { $0.sent += 1 }
            channel.writeAndFlush(bytes, promise: nil)
        case .connect(let address):
            connect(link, address)
        case .wait:
            break
        case .drop:
            counters.withLock { $0.dropped += 1 }
        }
    }

    private func connect(_ link: Link, _ address: SocketAddress) {
        let node = link.node
        let delay = state.withLock { $0.outbound[link]?.backoffMs ?? 0 }
        let loop = group.next()
        loop.scheduleTask(in: .milliseconds(delay)) { [self] in
            ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(2))
                .channelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(self.handler(expecting: link))
                    }
                }
                .connect(to: address)
                .whenFailure { [self] error in
                    logger.info("cannot reach peer \(node) at \(address): \(error)")
                    connectionLost(link, nil)
                }
        }
    }

    /// An outbound connection authenticated: send what waited for it.
    private func outboundReady(_ link: Link, _ channel: any Channel) {
        let queued: [ByteBuffer]? = state.withLock { state in
            guard !state.closed, var out = state.outbound[link] else { return nil }
            out.channel = channel
            out.connecting = false
            out.backoffMs = 0
            let queued = out.queue
            out.queue = []
            out.queuedBytes = 0
            state.outbound[link] = out
            return queued
        }
        guard let queued else {
            channel.close(promise: nil)
            return
        }
        counters.withLock { $0.sent += queued.count }
        for bytes in queued { channel.write(bytes, promise: nil) }
        channel.flush()
    }

    /// An outbound connection failed or closed: try again after a backoff if messages wait.
    private func connectionLost(_ link: Link, _ channel: (any Channel)?) {
        let retry: SocketAddress? = state.withLock { state in
            guard !state.closed, var out = state.outbound[link] else { return nil }
            if let channel, let current = out.channel, current !== channel { return nil }
            out.channel = nil
            out.backoffMs = min(max(out.backoffMs * 2, 50), 2000)
            defer { state.outbound[link] = out }
            guard !out.queue.isEmpty, let address = state.addresses[link.node] else {
                out.connecting = false
                return nil
            }
            out.connecting = true
            return address
        }
        if let retry { connect(link, retry) }
    }

    // MARK: Connections

    private func handler(expecting peer: Link?) -> PeerConnectionHandler {
        PeerConnectionHandler(
            transport: self, ours: .fresh(cluster: identity.cluster, node: identity.node, region: identity.region),
            expecting: peer)
    }

    fileprivate func authenticated(_ hello: PeerHello, channel: any Channel, outbound: Link?) {
        counters.withLock { $0.authenticated += 1 }
        logger.info(
            "peer \(hello.node) (\(hello.region)) authenticated",
            metadata: ["outbound": "\(outbound != nil)", "lane": "\(outbound.map { "\($0.lane)" } ?? "any")"])
        if let outbound { outboundReady(outbound, channel) }
    }

    fileprivate func closed(_ peer: Link?, channel: any Channel) {
        if let peer { connectionLost(peer, channel) }
    }

    fileprivate func refused(_ why: String, _ counter: WritableKeyPath<PeerTransportCounters, Int>, remote: String) {
        counters.withLock { $0[keyPath: counter] += 1 }
        logger.notice("closed a peer connection from \(remote): \(why)")
    }

    fileprivate func received(_ envelope: PeerEnvelope) {
        if lost(envelope.from, \.receiveLoss) {
            counters.withLock { $0.dropped += 1 }
            return
        }
        counters.withLock { $0.delivered += 1 }
        deliver(envelope)
    }

    /// Stops listening and closes every connection.
    public func close() async {
        let (listener, channels) = state.withLock { state in
            state.closed = true
            let channels = state.outbound.values.compactMap(\.channel)
            state.outbound = [:]
            return (state.listener, channels)
        }
        try? await listener?.close()
        for channel in channels { try? await channel.close() }
    }
}

public struct PeerTransportError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// One connection, either way: sends this node's hello at once, answers the peer's hello with a
/// proof, checks the peer's proof, and only then passes envelopes on. Before authentication a
/// frame may be at most `handshakeFrameBytes`, so an unknown peer cannot make a node buffer a
/// block's worth of bytes.
final class PeerConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let handshakeFrameBytes = 4096

    private let transport: PeerTransport
    private let ours: PeerHello
    /// The node and lane an outbound connection was opened for; nil for an accepted one.
    private let expecting: PeerTransport.Link?
    /// Chunked envelopes of an accepted connection, put back together.
    private var chunks = PeerChunks.Assembler()
    private var theirs: PeerHello?
    private var isAuthenticated = false
    private var cumulation: ByteBuffer?
    private var timeout: Scheduled<Void>?
    private var isClosing = false

    init(transport: PeerTransport, ours: PeerHello, expecting: PeerTransport.Link?) {
        self.transport = transport
        self.ours = ours
        self.expecting = expecting
    }

    func channelActive(context: ChannelHandlerContext) {
        var bytes = context.channel.allocator.buffer(capacity: 256)
        ours.frame.write(to: &bytes)
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        let channel = context.channel
        let remote = Self.remote(context)
        timeout = context.eventLoop.scheduleTask(in: transport.handshakeTimeout) { [transport] in
            transport.refused("no handshake within the timeout", \.unauthenticated, remote: remote)
            channel.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        transport.closed(expecting, channel: context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isClosing else { return }
        var incoming = unwrapInboundIn(data)
        let size = incoming.readableBytes
        transport.counters.withLock { $0.bytesReceived += size }
        if cumulation == nil {
            cumulation = incoming
        } else {
            cumulation!.writeBuffer(&incoming)
        }
        do {
            while !isClosing, var buffer = cumulation {
                let limit = isAuthenticated ? PeerFrame.maxFrameBodyBytes : Self.handshakeFrameBytes
                let frame = try PeerFrame.read(from: &buffer, maxBodyBytes: limit)
                cumulation = buffer.readableBytes == 0 ? nil : buffer
                guard let frame else { break }
                handle(frame, context)
            }
            if let buffer = cumulation, buffer.readerIndex > 1 << 20 {
                var compact = buffer
                compact.discardReadBytes()
                cumulation = compact
            }
        } catch {
            fail(context, "\(error)", isAuthenticated ? \.malformed : \.unauthenticated)
        }
    }

    private func handle(_ frame: PeerFrame, _ context: ChannelHandlerContext) {
        switch (frame.kind, theirs, isAuthenticated) {
        case (.hello, nil, _):
            let hello: PeerHello
            do {
                hello = try PeerHello(frame: frame)
            } catch {
                return fail(context, "\(error)", \.unauthenticated)
            }
            if hello.cluster != ours.cluster {
                return fail(context, "a node of cluster \(hello.cluster)", \.unauthenticated)
            }
            if hello.node == ours.node { return fail(context, "a peer with this node's own id", \.unauthenticated) }
            if let expecting, hello.node != expecting.node {
                return fail(context, "expected node \(expecting), reached \(hello.node)", \.unauthenticated)
            }
            theirs = hello
            var bytes = context.channel.allocator.buffer(capacity: 64)
            transport.identity.secret.proof(by: ours, for: hello).write(to: &bytes)
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        case (.proof, let hello?, false):
            guard transport.identity.secret.verify(frame, prover: hello, verifier: ours) else {
                return fail(context, "node \(hello.node) did not prove the join secret", \.unauthenticated)
            }
            isAuthenticated = true
            timeout?.cancel()
            transport.authenticated(hello, channel: context.channel, outbound: expecting)
        case (.envelope, let hello?, true), (.chunk, let hello?, true):
            let envelope: PeerEnvelope
            do {
                var whole = frame
                if frame.kind == .chunk {
                    guard let assembled = try chunks.add(frame) else { return }
                    whole = assembled
                } else if chunks.isAssembling {
                    throw PeerFrameError.malformedBody("an envelope in the middle of a chunked one")
                }
                envelope = try PeerCodec.decode(whole)
            } catch {
                return fail(context, "\(error)", \.malformed)
            }
            guard envelope.from == hello.node else {
                return fail(context, "node \(hello.node) sent a message as \(envelope.from)", \.wrongSender)
            }
            // An outbound connection carries this node's messages only; a peer answers on its own.
            guard expecting == nil else { return fail(context, "a message on an outbound connection", \.malformed) }
            transport.received(envelope)
        default:
            fail(context, "a \(frame.kind) frame out of turn", isAuthenticated ? \.malformed : \.unauthenticated)
        }
    }

    private func fail(
        _ context: ChannelHandlerContext, _ why: String, _ counter: WritableKeyPath<PeerTransportCounters, Int>
    ) {
        guard !isClosing else { return }
        isClosing = true
        cumulation = nil
        transport.refused(why, counter, remote: Self.remote(context))
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private static func remote(_ context: ChannelHandlerContext) -> String {
        context.channel.remoteAddress.map { "\($0)" } ?? "an unknown address"
    }
}
