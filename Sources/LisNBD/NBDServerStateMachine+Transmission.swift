import NIOCore

extension NBDServerStateMachine {
    /// What the handler does with a decoded request.
    enum RequestAction: Equatable {
        /// Hand the command to the delegate; its responder carries `token`.
        case dispatch(NBDCommand, NBDExport, NBDRequestToken)
        /// Answer right away without involving the delegate (validation error, ESHUTDOWN, or a
        /// zero-length no-op).
        case reply(NBDReply)
        /// DISC with commands in flight: read nothing more; close when the last one is answered.
        case waitForInFlight
        /// Close now (DISC with nothing in flight).
        case close
        /// The connection is already closed; drop the request.
        case ignore
    }

    /// What the handler does when the delegate answers.
    enum CompletionAction: Equatable {
        /// Send the reply; if `thenClose`, close once it is written (draining finished).
        case reply(NBDReply, thenClose: Bool)
        /// A late (connection closed) or duplicate answer: nothing to send.
        case ignore
    }

    enum ShutdownAction: Equatable {
        /// Close now: nothing is in flight, or the connection is still in its handshake.
        case close
        /// Keep serving: in-flight commands finish, new ones get `ESHUTDOWN`, then close.
        case drain
        /// Already closed.
        case ignore
    }

    // MARK: - Requests

    mutating func receivedRequest(_ request: NBDRequest) -> RequestAction {
        guard self.phase == .transmission, !self.disconnectRequested, let export = self.export else { return .ignore }

        if request.type == NBDProtocol.Command.disconnect {
            // No reply. "The server MUST handle all outstanding requests ... and close."
            self.disconnectRequested = true
            guard self.inFlight.isEmpty else { return .waitForInFlight }
            self.phase = .closed
            return .close
        }
        // The spec: ESHUTDOWN for requests received while shutting down.
        if self.shuttingDown {
            return .reply(self.errorReply(cookie: request.cookie, .eshutdown))
        }

        switch self.validate(request, export: export) {
        case .failure(let error):
            return .reply(self.errorReply(cookie: request.cookie, error))
        case .success(nil):
            return .reply(self.noOpReply(for: request))
        case .success(let command?):
            let id = self.nextRequestID
            self.nextRequestID &+= 1
            let isRead = request.type == NBDProtocol.Command.read
            let payloadBytes = (isRead || request.type == NBDProtocol.Command.write) ? request.length : 0
            self.inFlight.insert(RequestKey(id))
            self.inFlightBytes += UInt64(payloadBytes)
            let token = NBDRequestToken(
                id: id, cookie: request.cookie, kind: isRead ? .read : .other,
                offset: request.offset, length: request.length, payloadBytes: payloadBytes)
            return .dispatch(command, export, token)
        }
    }

    /// Checks a request against the spec's rules, in this order: command flags, read-only,
    /// maximum length, range, alignment. Returns the command for the delegate, nil for a
    /// zero-length request that is answered without it, or the error the spec recommends
    /// ("Error values": EINVAL for reads/trims out of range, ENOSPC for writes and zero-writes
    /// out of range, EPERM for modifying a read-only export, EINVAL for misalignment, unknown
    /// commands and flags).
    func validate(_ request: NBDRequest, export: NBDExport) -> Result<NBDCommand?, NBDError> {
        typealias Flag = NBDProtocol.CommandFlag
        let fua = request.flags & Flag.fua != 0

        switch request.type {
        case NBDProtocol.Command.read:
            // DF is valid on READ only once SEND_DF was advertised (structured replies).
            let allowed = Flag.fua | (self.structuredReplies ? Flag.dontFragment : 0)
            guard request.flags & ~allowed == 0 else { return .failure(.einval) }
            if let error = self.checkRange(request, export: export, outOfRange: .einval, limitLength: true) {
                return .failure(error)
            }
            return .success(request.length == 0 ? nil : .read(offset: request.offset, length: request.length))

        case NBDProtocol.Command.write:
            guard request.flags & ~Flag.fua == 0 else { return .failure(.einval) }
            guard !export.readOnly else { return .failure(.eperm) }
            if let error = self.checkRange(request, export: export, outOfRange: .enospc, limitLength: true) {
                return .failure(error)
            }
            guard request.length > 0, let data = request.payload else { return .success(nil) }
            return .success(.write(offset: request.offset, data: data, fua: fua))

        case NBDProtocol.Command.flush:
            // Offset and length are reserved (MUST be zero); they are ignored rather than refused.
            guard request.flags & ~Flag.fua == 0 else { return .failure(.einval) }
            return .success(.flush)

        case NBDProtocol.Command.trim:
            guard request.flags & ~Flag.fua == 0 else { return .failure(.einval) }
            guard !export.readOnly else { return .failure(.eperm) }
            // The maximum block size does not apply to TRIM (spec, "Block size constraints").
            if let error = self.checkRange(request, export: export, outOfRange: .einval, limitLength: false) {
                return .failure(error)
            }
            return .success(
                request.length == 0 ? nil : .trim(offset: request.offset, length: request.length, fua: fua))

        case NBDProtocol.Command.writeZeroes:
            // FAST_ZERO is not advertised, so the spec asks for EINVAL when it is set.
            guard request.flags & ~(Flag.fua | Flag.noHole) == 0 else { return .failure(.einval) }
            guard !export.readOnly else { return .failure(.eperm) }
            if let error = self.checkRange(request, export: export, outOfRange: .enospc, limitLength: true) {
                return .failure(error)
            }
            let noHole = request.flags & Flag.noHole != 0
            return .success(
                request.length == 0
                    ? nil : .writeZeroes(offset: request.offset, length: request.length, fua: fua, noHole: noHole))

        default:
            // CACHE, BLOCK_STATUS (no metadata context can be selected) and unknown types. None of
            // them carries a payload, so the stream stays in sync.
            return .failure(.einval)
        }
    }

    @inline(__always)
    private func checkRange(
        _ request: NBDRequest, export: NBDExport, outOfRange: NBDError, limitLength: Bool
    ) -> NBDError? {
        if limitLength, request.length > self.blockSizes.maximumBytes {
            return .einval
        }
        // Written so that offset + length cannot overflow.
        guard request.offset <= export.sizeBytes, UInt64(request.length) <= export.sizeBytes - request.offset else {
            return outOfRange
        }
        guard self.blockSizes.isAligned(request.offset), self.blockSizes.isAligned(UInt64(request.length)) else {
            return .einval
        }
        return nil
    }

    /// The reply to a valid zero-length request. The spec leaves the behaviour unspecified but
    /// says the server SHOULD NOT disconnect; it succeeds without touching the export.
    private func noOpReply(for request: NBDRequest) -> NBDReply {
        if request.type == NBDProtocol.Command.read, self.structuredReplies {
            // A structured READ reply needs a chunk; OFFSET_DATA must carry at least one byte.
            return NBDReply(cookie: request.cookie, body: .structuredDone)
        }
        return NBDReply(cookie: request.cookie, body: .simple(nil))
    }

    /// Errors use a structured `NBD_REPLY_TYPE_ERROR` chunk once structured replies are
    /// negotiated (mandatory for READ, preferred by the spec for the rest), else a simple reply.
    @inline(__always)
    private func errorReply(cookie: UInt64, _ error: NBDError) -> NBDReply {
        NBDReply(cookie: cookie, body: self.structuredReplies ? .structuredError(error) : .simple(error))
    }

    // MARK: - Completions

    mutating func commandCompleted(_ token: NBDRequestToken, _ outcome: NBDCommandOutcome) -> CompletionAction {
        guard self.phase == .transmission, self.inFlight.remove(RequestKey(token.id)) != nil else { return .ignore }
        self.inFlightBytes -= UInt64(token.payloadBytes)

        let reply: NBDReply
        switch outcome {
        case .failure(let error):
            reply = self.errorReply(cookie: token.cookie, error)
        case .success(let data):
            switch token.kind {
            case .other:
                reply = NBDReply(cookie: token.cookie, body: .simple(nil))
            case .read:
                // A short or long READ would desynchronise the client's stream, so a delegate bug
                // becomes EIO for that command rather than corrupting the connection.
                guard let data, data.readableBytes == Int(token.length) else {
                    reply = self.errorReply(cookie: token.cookie, .eio)
                    break
                }
                reply = NBDReply(
                    cookie: token.cookie,
                    body: self.structuredReplies ? .structuredData(offset: token.offset, data: data) : .simpleRead(data)
                )
            }
        }
        let thenClose = self.closesWhenIdle && self.inFlight.isEmpty
        if thenClose { self.phase = .closed }
        return .reply(reply, thenClose: thenClose)
    }

    // MARK: - Connection events

    mutating func shutdownRequested() -> ShutdownAction {
        switch self.phase {
        case .closed:
            return .ignore
        case .greeting, .awaitingClientFlags, .negotiating:
            // Option haggling has nothing in flight; hard-disconnect rather than wait on a client.
            self.phase = .closed
            return .close
        case .transmission:
            self.shuttingDown = true
            if self.inFlight.isEmpty {
                self.phase = .closed
                return .close
            }
            return .drain
        }
    }

    /// Mirrors the channel's writability into ``nextFrame``.
    mutating func writabilityChanged(isWritable: Bool) {
        self.outboundWritable = isWritable
    }

    /// The channel closed (either side); later answers are ignored.
    mutating func connectionClosed() {
        self.phase = .closed
        self.inFlight.removeAll()
        self.inFlightBytes = 0
    }

    /// The handler is about to close the connection for a reason found outside the machine
    /// (a decoder error, DISC with nothing in flight).
    mutating func closing() {
        self.phase = .closed
    }
}
