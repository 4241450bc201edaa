import NIOCore

/// The channel handler that carries out ``NBDServerStateMachine`` actions on one connection.
///
/// Data path, per event-loop tick:
/// - `channelRead` decodes frames while the state machine wants input. Each valid request goes
///   to the delegate at once (no waiting for earlier ones); WRITE payloads are slices of the
///   receive buffer. Only a frame split across reads is copied, and only its missing part.
/// - Replies, in whatever order responders complete, are encoded into one batch buffer; READ data
///   follows its header as its own buffer (no copy). The batch is flushed once: in
///   `channelReadComplete` when replies were produced while reading, otherwise by one
///   `eventLoop.execute` per tick. So a burst of completions costs one `writev`, not one per reply.
/// - Backpressure: when the state machine has too much in flight (or the channel is not
///   writable) it stops asking for frames; the handler then holds back `read()` and resumes
///   decoding buffered bytes, then reading, as soon as completions bring it below the bound.
final class NBDServerHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var machine: NBDServerStateMachine
    private let delegate: any NBDServerDelegate
    private let registry: NBDConnectionRegistry

    private var context: ChannelHandlerContext?
    private var registrationID: UInt64?
    private var started = false
    private var closeStarted = false

    /// Received bytes not yet decoded.
    private var cumulation: ByteBuffer?
    /// The cumulation is a buffer this handler made for a frame split across reads (not a
    /// received buffer the channel's pool shares): the rest of the frame is written into it.
    private var cumulationIsOwn = false
    /// Guards against re-entrant decoding when a delegate answers synchronously.
    private var isDecoding = false
    /// Between `channelRead` and `channelReadComplete`: replies are flushed by the latter.
    private var inReadBurst = false
    /// A `read()` was held back because the state machine wanted no input.
    private var readHeldBack = false
    /// Commands decoded in this pass, handed to the delegate together when it ends.
    private var dispatched: [NBDDispatch] = []
    /// Inside ``commandsCompleted(_:)``: its end flushes.
    private var completingBatch = false

    /// Encoded replies not yet written to the channel.
    private var replyBatch: ByteBuffer?
    /// Replies were written (or batched) but not flushed.
    private var flushNeeded = false
    private var flushScheduled = false

    init(
        delegate: any NBDServerDelegate,
        registry: NBDConnectionRegistry,
        blockSizes: NBDBlockSizes,
        limits: NBDServerLimits
    ) {
        self.machine = NBDServerStateMachine(blockSizes: blockSizes, limits: limits)
        self.delegate = delegate
        self.registry = registry
    }

    // MARK: - Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive {
            self.start(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.machine.connectionClosed()
        self.unregister()
        self.cumulation = nil
        self.replyBatch = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.start(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.machine.connectionClosed()
        self.unregister()
        self.cumulation = nil
        self.replyBatch = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // I/O errors end this connection only.
        self.closeNow(context: context)
    }

    private func start(context: ChannelHandlerContext) {
        guard !self.started else { return }
        self.started = true
        let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
        let id = self.registry.register {
            connection.eventLoop.execute {
                connection.value.shutdownRequested()
            }
        }
        guard let id else {
            // The node is shutting down: refuse the connection before the greeting.
            self.closeNow(context: context)
            return
        }
        self.registrationID = id
        self.apply(self.machine.connectionStarted(), context: context)
        // A read() that arrived before the greeting was held back; let it through now.
        self.resumeIfPossible(context: context)
    }

    private func unregister() {
        if let id = self.registrationID {
            self.registrationID = nil
            self.registry.unregister(id)
        }
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = self.unwrapInboundIn(data)
        guard !self.closeStarted else { return }
        self.inReadBurst = true
        guard var pending = self.cumulation else {
            self.cumulation = incoming
            self.cumulationIsOwn = false
            self.decodeBufferedFrames(context: context)
            return
        }
        // A frame was split across reads. Copy from `incoming` only the bytes that complete it,
        // decode it, then decode the rest of `incoming` in place: a read costs at most one
        // frame's worth of copying, not a copy of everything received.
        self.cumulation = nil
        // Unless a split frame is being assembled already, `pending` is what is left of an
        // earlier read's buffer, which the channel's receive-buffer pool still shares: writing
        // into it would copy that whole buffer (64 KiB under load) per split frame.
        var ownsPending = self.cumulationIsOwn
        if let kind = self.machine.nextFrame {
            let limits = self.machine.decoderLimits
            while incoming.readableBytes > 0 {
                let missing = NBDFrameDecoder.bytesNeeded(kind, in: pending, limits: limits) - pending.readableBytes
                guard missing > 0, var part = incoming.readSlice(length: min(missing, incoming.readableBytes)) else {
                    break
                }
                // A buffer of its own, with room for the whole frame at once: growing by
                // doubling would copy a large WRITE's payload several times as its pieces arrive.
                if !ownsPending || pending.writableBytes < missing {
                    var own = context.channel.allocator.buffer(capacity: pending.readableBytes + missing)
                    own.writeBuffer(&pending)
                    pending = own
                    ownsPending = true
                }
                pending.writeBuffer(&part)
            }
        }
        self.cumulation = pending
        self.cumulationIsOwn = ownsPending
        guard incoming.readableBytes > 0 else {
            self.decodeBufferedFrames(context: context)
            return
        }
        self.decodeBufferedFrames(context: context)
        guard !self.closeStarted else { return }
        if var rest = self.cumulation {
            // Still paused (or the frame was not decodable yet): keep everything, in order.
            self.cumulation = nil
            rest.discardReadBytes()
            rest.writeBuffer(&incoming)
            self.cumulation = rest
            self.cumulationIsOwn = true  // written to: a copy of its own
        } else {
            self.cumulation = incoming
            self.cumulationIsOwn = false
        }
        self.decodeBufferedFrames(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.inReadBurst = false
        self.flushIfNeeded(context: context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.machine.writabilityChanged(isWritable: context.channel.isWritable)
        self.resumeIfPossible(context: context)
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Outbound

    func read(context: ChannelHandlerContext) {
        if self.machine.nextFrame == nil {
            self.readHeldBack = true
        } else {
            context.read()
        }
    }

    // MARK: - Decoding

    /// Decodes and handles frames from the cumulation buffer for as long as the state machine
    /// wants input and complete frames are available.
    private func decodeBufferedFrames(context: ChannelHandlerContext) {
        guard !self.isDecoding else { return }
        self.isDecoding = true
        defer {
            self.isDecoding = false
            // Answers given during the pass may have made room: let a held-back read through.
            if self.readHeldBack, self.machine.nextFrame != nil, !self.closeStarted {
                self.readHeldBack = false
                context.read()
            }
        }
        // Decode, then hand the pass's commands over together. A delegate that answers at once
        // may have made room for more frames: decode again rather than recursing.
        while true {
            let wantsMore = self.decodeWhileWanted(context: context)
            guard !self.dispatched.isEmpty else { return }
            let commands = self.dispatched
            self.dispatched.removeAll(keepingCapacity: true)
            self.delegate.handle(commands)
            guard wantsMore, self.cumulation != nil, self.machine.nextFrame != nil, !self.closeStarted else { return }
        }
    }

    /// Decodes frames while the state machine wants them; false when the bytes ran out or the
    /// connection closed.
    private func decodeWhileWanted(context: ChannelHandlerContext) -> Bool {
        while let kind = self.machine.nextFrame, var buffer = self.cumulation {
            let result = NBDFrameDecoder.decode(kind, from: &buffer, limits: self.machine.decoderLimits)
            self.cumulation = buffer.readableBytes > 0 ? buffer : nil
            switch result {
            case .needMoreData:
                return false
            case .invalid:
                self.closeNow(context: context)
                return false
            case .frame(.clientFlags(let flags)):
                self.apply(self.machine.receivedClientFlags(flags), context: context)
            case .frame(.option(let code, let data)):
                let catalog = NBDDelegateCatalog(delegate: self.delegate)
                self.apply(self.machine.receivedOption(code: code, data: data, catalog: catalog), context: context)
            case .frame(.request(let request)):
                self.apply(self.machine.receivedRequest(request), context: context)
            }
        }
        return true
    }

    /// Called when the state machine may want input again: decode what is buffered, then let a
    /// held-back `read()` through.
    private func resumeIfPossible(context: ChannelHandlerContext) {
        guard !self.isDecoding, self.machine.nextFrame != nil else { return }
        if self.cumulation != nil {
            self.decodeBufferedFrames(context: context)
        }
        if self.readHeldBack, self.machine.nextFrame != nil {
            self.readHeldBack = false
            context.read()
        }
    }

    // MARK: - Applying actions

    private func apply(_ action: NBDServerStateMachine.HandshakeAction, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .send(let messages):
            context.writeAndFlush(self.wrapOutboundOut(self.encode(messages, context: context)), promise: nil)
        case .sendAndClose(let messages):
            self.appendToBatch(self.encode(messages, context: context), context: context)
            self.closeAfterWrites(context: context)
        case .close:
            self.closeNow(context: context)
        }
    }

    private func encode(_ messages: [NBDHandshakeMessage], context: ChannelHandlerContext) -> ByteBuffer {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        for message in messages {
            buffer.writeNBDHandshakeMessage(message)
        }
        return buffer
    }

    private func apply(_ action: NBDServerStateMachine.RequestAction, context: ChannelHandlerContext) {
        switch action {
        case .dispatch(let command, let export, let token):
            let responder = NBDResponder(
                connection: NIOLoopBound(self, eventLoop: context.eventLoop), connectionID: ObjectIdentifier(self), token: token)
            self.dispatched.append(NBDDispatch(command: command, export: export, responder: responder))
        case .reply(let reply):
            self.write(reply, context: context)
        case .waitForInFlight, .ignore:
            break
        case .close:
            self.closeAfterWrites(context: context)
        }
    }

    /// Entry point for ``NBDResponder``, on the event loop.
    func commandCompleted(_ token: NBDRequestToken, _ outcome: NBDCommandOutcome) {
        guard let context = self.context else { return }
        switch self.machine.commandCompleted(token, outcome) {
        case .ignore:
            return
        case .reply(let reply, let thenClose):
            self.write(reply, context: context)
            if thenClose {
                self.closeAfterWrites(context: context)
            } else {
                self.resumeIfPossible(context: context)
            }
        }
    }

    /// Entry point for ``NBDReplyBatch``, on the event loop: the answers, then one flush.
    func commandsCompleted(_ answers: [(NBDRequestToken, NBDCommandOutcome)]) {
        // An answer may let held-back frames be decoded, whose answers can arrive (nested)
        // before this batch ends: only the outermost batch flushes.
        let nested = self.completingBatch
        self.completingBatch = true
        for (token, outcome) in answers { self.commandCompleted(token, outcome) }
        self.completingBatch = nested
        if !nested, let context = self.context, !self.inReadBurst { self.flushIfNeeded(context: context) }
    }

    /// Entry point for the registry, on the event loop.
    func shutdownRequested() {
        guard let context = self.context else { return }
        switch self.machine.shutdownRequested() {
        case .close:
            self.closeAfterWrites(context: context)
        case .drain, .ignore:
            break
        }
    }

    // MARK: - Writing and flushing

    @inline(__always)
    private func write(_ reply: NBDReply, context: ChannelHandlerContext) {
        // Take the batch out of the property so it stays uniquely referenced (no copy on append).
        var batch = self.replyBatch ?? context.channel.allocator.buffer(capacity: 512)
        self.replyBatch = nil
        if let data = batch.writeNBDReplyHeader(reply) {
            // Keep order: everything batched so far with this header, then this READ's data as is.
            context.write(self.wrapOutboundOut(batch), promise: nil)
            context.write(self.wrapOutboundOut(data), promise: nil)
        } else {
            self.replyBatch = batch
        }
        self.scheduleFlush(context: context)
    }

    private func appendToBatch(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        if var batch = self.replyBatch {
            self.replyBatch = nil
            batch.writeImmutableBuffer(bytes)
            self.replyBatch = batch
        } else {
            self.replyBatch = bytes
        }
        self.scheduleFlush(context: context)
    }

    private func writeBatch(context: ChannelHandlerContext) {
        if let batch = self.replyBatch {
            self.replyBatch = nil
            if batch.readableBytes > 0 {
                context.write(self.wrapOutboundOut(batch), promise: nil)
            }
        }
    }

    /// One flush per burst: the read burst's end flushes, or else one task per event-loop tick.
    private func scheduleFlush(context: ChannelHandlerContext) {
        self.flushNeeded = true
        guard !self.inReadBurst, !self.completingBatch, !self.flushScheduled else { return }
        self.flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            if let context = self.context {
                self.flushIfNeeded(context: context)
            }
        }
    }

    private func flushIfNeeded(context: ChannelHandlerContext) {
        guard self.flushNeeded else { return }
        self.flushNeeded = false
        self.writeBatch(context: context)
        context.flush()
    }

    // MARK: - Closing

    /// Writes and flushes everything pending, then closes once those bytes are out (so an ABORT
    /// ACK or the last reply before DISC/shutdown is not lost).
    private func closeAfterWrites(context: ChannelHandlerContext) {
        guard !self.closeStarted else { return }
        self.closeStarted = true
        self.machine.closing()
        self.cumulation = nil
        let batch = self.replyBatch ?? context.channel.allocator.buffer(capacity: 0)
        self.replyBatch = nil
        self.flushNeeded = false
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(batch)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// Hard disconnect: a protocol violation or I/O error. Pending replies are dropped.
    private func closeNow(context: ChannelHandlerContext) {
        guard !self.closeStarted else { return }
        self.closeStarted = true
        self.machine.closing()
        self.cumulation = nil
        self.replyBatch = nil
        context.close(promise: nil)
    }
}
