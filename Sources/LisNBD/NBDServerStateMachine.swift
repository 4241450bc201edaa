import NIOCore

/// Where the server finds exports during the handshake. ``NBDServerDelegate`` provides this in
/// production; tests pass a plain value.
protocol NBDExportCatalog {
    func listExports() -> [NBDExport]
    func export(named name: String) -> NBDExport?
}

/// The protocol logic of one NBD server connection, with no I/O.
///
/// The channel handler feeds it events (bytes decoded into frames, delegate answers, shutdown,
/// writability) and carries out the action each event returns, in order. Everything a reply
/// depends on — which options were negotiated, which commands are in flight, whether the
/// connection is draining — lives here, so the rules of `doc/proto.md` can be tested by calling
/// these methods directly.
///
/// Lifecycle: `.greeting` → `.awaitingClientFlags` → `.negotiating` (options) →
/// `.transmission` (requests) → `.closed`. A DISC or a registry shutdown in transmission sets
/// ``closesWhenIdle``: the connection closes once every in-flight command is answered.
struct NBDServerStateMachine {
    enum Phase: Equatable {
        case greeting
        case awaitingClientFlags
        case negotiating
        case transmission
        case closed
    }

    // The stored properties below are internal so that the transmission half in
    // `NBDServerStateMachine+Transmission.swift` can update them; only this type's mutating
    // methods change them.
    let blockSizes: NBDBlockSizes
    let limits: NBDServerLimits
    var phase: Phase = .greeting

    // Negotiated during the handshake.
    var noZeroes = false
    var structuredReplies = false
    var optionCount = 0
    /// Whether the `NBD_OPT_GO` that entered transmission asked for `NBD_INFO_BLOCK_SIZE`. The
    /// server enforces its constraints either way; this is kept for diagnostics and tests.
    var clientRequestedBlockSizes = false

    // Transmission.
    var export: NBDExport?
    /// Ids of commands handed to the delegate and not yet answered: exactly-once bookkeeping.
    var inFlight: Set<RequestKey> = []
    var inFlightBytes: UInt64 = 0
    var nextRequestID: UInt64 = 0
    /// `NBD_CMD_DISC` arrived: read nothing more, close when idle.
    var disconnectRequested = false
    /// The registry is shutting down: new commands get `ESHUTDOWN`, close when idle.
    var shuttingDown = false
    /// Mirrors `Channel.isWritable`; reading pauses while replies cannot be sent.
    var outboundWritable = true

    init(blockSizes: NBDBlockSizes = .standard, limits: NBDServerLimits = .standard) {
        self.blockSizes = blockSizes
        self.limits = limits
    }

    /// The bounds the frame decoder enforces before buffering a payload.
    var decoderLimits: NBDFrameDecoder.Limits {
        NBDFrameDecoder.Limits(
            optionDataMaximumBytes: self.limits.optionDataMaximumBytes,
            writePayloadMaximumBytes: max(self.blockSizes.maximumBytes, NBDProtocol.denialOfServiceFloorBytes))
    }

    /// Whether the connection closes as soon as nothing is in flight.
    var closesWhenIdle: Bool { self.disconnectRequested || self.shuttingDown }

    /// The frame to decode next, or nil when the server must not consume input now: before the
    /// greeting, after DISC, after close, or while in-flight work or unsent replies exceed
    /// their bounds (backpressure: the handler stops reading until this becomes non-nil).
    var nextFrame: NBDFrameDecoder.FrameKind? {
        switch self.phase {
        case .greeting, .closed:
            return nil
        case .awaitingClientFlags:
            return .clientFlags
        case .negotiating:
            return .option
        case .transmission:
            guard !self.disconnectRequested, self.outboundWritable,
                self.inFlight.count < self.limits.inFlightRequestsMaximum,
                self.inFlightBytes < self.limits.inFlightBytesMaximum
            else { return nil }
            return .request
        }
    }

    // MARK: - Handshake

    /// What the handler does with a handshake event.
    enum HandshakeAction: Equatable {
        /// Nothing to send; keep reading.
        case none
        /// Send these messages, then keep going (possibly now in transmission).
        case send([NBDHandshakeMessage])
        /// Send these messages, then close once they are written (`NBD_OPT_ABORT`).
        case sendAndClose([NBDHandshakeMessage])
        /// Close now: the client broke a MUST, or the server cannot go on (unknown export on
        /// `NBD_OPT_EXPORT_NAME`, a bound exceeded, shutdown during the handshake).
        case close(reason: String)
    }

    /// The connection is up: greet the client with fixed newstyle and `NO_ZEROES`.
    mutating func connectionStarted() -> HandshakeAction {
        guard self.phase == .greeting else { return .none }
        self.phase = .awaitingClientFlags
        return .send([
            .greeting(handshakeFlags: NBDProtocol.HandshakeFlag.fixedNewstyle | NBDProtocol.HandshakeFlag.noZeroes)
        ])
    }

    mutating func receivedClientFlags(_ flags: UInt32) -> HandshakeAction {
        guard self.phase == .awaitingClientFlags else { return self.closeForViolation("client flags out of order") }
        // The spec: "the server MUST drop the TCP connection if the client sets an unknown flag".
        // A client without C_FIXED_NEWSTYLE is still served fixed newstyle (the spec allows it).
        guard flags & ~NBDProtocol.ClientFlag.known == 0 else {
            return self.closeForViolation("unknown client flags 0x\(String(flags, radix: 16))")
        }
        self.noZeroes = flags & NBDProtocol.ClientFlag.noZeroes != 0
        self.phase = .negotiating
        return .none
    }

    mutating func receivedOption(code: UInt32, data: ByteBuffer, catalog: some NBDExportCatalog) -> HandshakeAction {
        guard self.phase == .negotiating else { return self.closeForViolation("option outside negotiation") }
        self.optionCount += 1
        guard self.optionCount <= self.limits.optionsMaximum else {
            return self.closeForViolation("more than \(self.limits.optionsMaximum) options")
        }
        var data = data
        switch code {
        case NBDProtocol.Option.exportName:
            return self.exportName(data: &data, catalog: catalog)
        case NBDProtocol.Option.abort:
            // The spec: "The server MUST reply with NBD_REP_ACK"; data, if any, is ignored.
            self.phase = .closed
            return .sendAndClose([.optionReply(option: code, .ack)])
        case NBDProtocol.Option.list:
            guard data.readableBytes == 0 else {
                return Self.optionError(code, NBDProtocol.OptionReplyType.errInvalid, "NBD_OPT_LIST takes no data")
            }
            var replies: [NBDHandshakeMessage] = catalog.listExports().map {
                .optionReply(option: code, .server(name: $0.name))
            }
            replies.append(.optionReply(option: code, .ack))
            return .send(replies)
        case NBDProtocol.Option.info, NBDProtocol.Option.go:
            return self.infoOrGo(code: code, data: &data, catalog: catalog)
        case NBDProtocol.Option.structuredReply:
            guard data.readableBytes == 0 else {
                return Self.optionError(
                    code, NBDProtocol.OptionReplyType.errInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data")
            }
            self.structuredReplies = true
            return .send([.optionReply(option: code, .ack)])
        default:
            // STARTTLS, LIST/SET_META_CONTEXT, EXTENDED_HEADERS and anything unknown. Clients fall
            // back; the spec requires the parser to keep going after this.
            return Self.optionError(code, NBDProtocol.OptionReplyType.errUnsupported, "")
        }
    }

    private mutating func exportName(data: inout ByteBuffer, catalog: some NBDExportCatalog) -> HandshakeAction {
        let nameLength = data.readableBytes
        // This option cannot return an error: the spec says the server MUST terminate the session.
        guard nameLength <= NBDProtocol.stringMaximumBytes,
            let name = data.readString(length: nameLength),
            let export = catalog.export(named: name)
        else { return self.closeForViolation("NBD_OPT_EXPORT_NAME for an unknown export") }
        self.enterTransmission(export)
        return .send([
            .exportNameReply(
                sizeBytes: export.sizeBytes,
                transmissionFlags: self.transmissionFlags(for: export),
                zeroPadding: !self.noZeroes)
        ])
    }

    private mutating func infoOrGo(code: UInt32, data: inout ByteBuffer, catalog: some NBDExportCatalog)
        -> HandshakeAction
    {
        func invalid(_ message: String) -> HandshakeAction {
            Self.optionError(code, NBDProtocol.OptionReplyType.errInvalid, message)
        }
        // Data: u32 name length, name, u16 count, count × u16 information requests.
        guard let nameLength = data.readInteger(as: UInt32.self),
            UInt64(nameLength) + 2 <= UInt64(data.readableBytes)
        else { return invalid("name length exceeds option length") }
        guard nameLength <= NBDProtocol.stringMaximumBytes else { return invalid("export name longer than 4096 bytes") }
        guard let name = data.readString(length: Int(nameLength)),
            let requestCount = data.readInteger(as: UInt16.self),
            data.readableBytes == Int(requestCount) * 2
        else { return invalid("information request count does not match option length") }

        var wantsName = false
        var wantsDescription = false
        var wantsBlockSize = false
        while let request = data.readInteger(as: UInt16.self) {
            switch request {
            case NBDProtocol.InfoType.name: wantsName = true
            case NBDProtocol.InfoType.description: wantsDescription = true
            case NBDProtocol.InfoType.blockSize: wantsBlockSize = true
            default: break  // The spec: "The server MUST ignore any information requests it does not understand."
            }
        }

        guard let export = catalog.export(named: name) else {
            return Self.optionError(code, NBDProtocol.OptionReplyType.errUnknown, "unknown export")
        }

        var replies: [NBDHandshakeMessage] = [
            .optionReply(
                option: code,
                .infoExport(sizeBytes: export.sizeBytes, transmissionFlags: self.transmissionFlags(for: export))),
            // Sent whether or not it was requested: the server enforces non-default constraints,
            // which the spec says it MUST advertise when asked and MAY send unasked; qemu asks.
            .optionReply(option: code, .infoBlockSize(self.blockSizes)),
        ]
        if wantsName {
            replies.append(.optionReply(option: code, .infoName(export.name)))
        }
        if wantsDescription, let description = export.description {
            replies.append(.optionReply(option: code, .infoDescription(description)))
        }
        replies.append(.optionReply(option: code, .ack))
        if code == NBDProtocol.Option.go {
            self.clientRequestedBlockSizes = wantsBlockSize
            self.enterTransmission(export)
        }
        return .send(replies)
    }

    private mutating func enterTransmission(_ export: NBDExport) {
        self.export = export
        self.phase = .transmission
    }

    /// The transmission flags for `export` given what has been negotiated so far.
    func transmissionFlags(for export: NBDExport) -> UInt16 {
        typealias Flag = NBDProtocol.TransmissionFlag
        var flags = Flag.hasFlags | Flag.sendFlush | Flag.sendFUA | Flag.sendTrim | Flag.sendWriteZeroes
        if export.readOnly { flags |= Flag.readOnly }
        if export.canMultiConn { flags |= Flag.canMultiConn }
        // Every READ reply is one chunk, so DF is always honoured; the spec says SEND_DF MUST be
        // clear unless structured replies were negotiated.
        if self.structuredReplies { flags |= Flag.sendDF }
        return flags
    }

    /// A single error reply; negotiation continues (the spec's "MUST NOT fail to parse the next
    /// message").
    private static func optionError(_ option: UInt32, _ type: UInt32, _ message: String) -> HandshakeAction {
        .send([.optionReply(option: option, .error(type: type, message: message))])
    }

    private mutating func closeForViolation(_ reason: String) -> HandshakeAction {
        self.phase = .closed
        return .close(reason: reason)
    }
}
