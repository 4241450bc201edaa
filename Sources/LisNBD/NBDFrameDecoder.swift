import NIOCore

/// Splits the client's byte stream into frames. Pure: it reads from the buffer it is given
/// and moves the reader index only past a complete frame, so a caller can stop at any point
/// (for backpressure) and resume later with more bytes appended.
///
/// Anything that cannot be a valid frame comes back as `.invalid`; the caller closes that
/// connection. Nothing here traps on input.
enum NBDFrameDecoder {
    /// What the state machine expects next.
    enum FrameKind: Equatable {
        case clientFlags
        case option
        case request
    }

    enum Frame: Equatable {
        case clientFlags(UInt32)
        case option(code: UInt32, data: ByteBuffer)
        case request(NBDRequest)
    }

    enum Result: Equatable {
        case frame(Frame)
        case needMoreData
        /// The stream is not NBD, or exceeds a bound; the reason is for logs and tests.
        case invalid(String)
    }

    /// Bounds the decoder enforces before buffering a frame's payload.
    struct Limits: Equatable {
        /// Option payloads above this close the connection.
        var optionDataMaximumBytes: UInt32
        /// WRITE payloads above this close the connection (they cannot be skipped safely
        /// without buffering them).
        var writePayloadMaximumBytes: UInt32
    }

    static func decode(_ kind: FrameKind, from buffer: inout ByteBuffer, limits: Limits) -> Result {
        switch kind {
        case .clientFlags:
            return self.decodeClientFlags(from: &buffer)
        case .option:
            return self.decodeOption(from: &buffer, dataMaximumBytes: limits.optionDataMaximumBytes)
        case .request:
            return self.decodeRequest(from: &buffer, writePayloadMaximumBytes: limits.writePayloadMaximumBytes)
        }
    }

    /// How many readable bytes ``decode(_:from:limits:)`` needs before it can make progress on
    /// the frame that starts at the reader index: the header size until the header is complete,
    /// then the whole frame (or just the header when the header alone is invalid). Lets the
    /// handler copy only the missing part of a frame split across reads.
    static func bytesNeeded(_ kind: FrameKind, in buffer: ByteBuffer, limits: Limits) -> Int {
        let start = buffer.readerIndex
        switch kind {
        case .clientFlags:
            return NBDProtocol.clientFlagsSizeBytes
        case .option:
            guard let length = buffer.getInteger(at: start + 12, as: UInt32.self),
                length <= limits.optionDataMaximumBytes
            else { return NBDProtocol.optionHeaderSizeBytes }
            return NBDProtocol.optionHeaderSizeBytes + Int(length)
        case .request:
            guard let type = buffer.getInteger(at: start + 6, as: UInt16.self),
                let length = buffer.getInteger(at: start + 24, as: UInt32.self),
                type == NBDProtocol.Command.write, length <= limits.writePayloadMaximumBytes
            else { return NBDProtocol.requestHeaderSizeBytes }
            return NBDProtocol.requestHeaderSizeBytes + Int(length)
        }
    }

    static func decodeClientFlags(from buffer: inout ByteBuffer) -> Result {
        guard let flags = buffer.readInteger(as: UInt32.self) else { return .needMoreData }
        return .frame(.clientFlags(flags))
    }

    static func decodeOption(from buffer: inout ByteBuffer, dataMaximumBytes: UInt32) -> Result {
        let start = buffer.readerIndex
        guard let magic = buffer.getInteger(at: start, as: UInt64.self) else { return .needMoreData }
        guard magic == NBDProtocol.optionMagic else { return .invalid("bad option magic") }
        guard let code = buffer.getInteger(at: start + 8, as: UInt32.self),
            let length = buffer.getInteger(at: start + 12, as: UInt32.self)
        else { return .needMoreData }
        guard length <= dataMaximumBytes else {
            return .invalid("option \(code) carries \(length) bytes, more than \(dataMaximumBytes)")
        }
        let total = NBDProtocol.optionHeaderSizeBytes + Int(length)
        guard buffer.readableBytes >= total else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: NBDProtocol.optionHeaderSizeBytes)
        // Cannot fail: the length was checked above.
        let data = buffer.readSlice(length: Int(length)) ?? ByteBuffer()
        return .frame(.option(code: code, data: data))
    }

    @inline(__always)
    static func decodeRequest(from buffer: inout ByteBuffer, writePayloadMaximumBytes: UInt32) -> Result {
        let start = buffer.readerIndex
        guard let magic = buffer.getInteger(at: start, as: UInt32.self) else { return .needMoreData }
        guard magic == NBDProtocol.requestMagic else { return .invalid("bad request magic") }
        guard buffer.readableBytes >= NBDProtocol.requestHeaderSizeBytes,
            let flags = buffer.getInteger(at: start + 4, as: UInt16.self),
            let type = buffer.getInteger(at: start + 6, as: UInt16.self),
            let cookie = buffer.getInteger(at: start + 8, as: UInt64.self),
            let offset = buffer.getInteger(at: start + 16, as: UInt64.self),
            let length = buffer.getInteger(at: start + 24, as: UInt32.self)
        else { return .needMoreData }

        guard type == NBDProtocol.Command.write else {
            buffer.moveReaderIndex(forwardBy: NBDProtocol.requestHeaderSizeBytes)
            return .frame(
                .request(NBDRequest(flags: flags, type: type, cookie: cookie, offset: offset, length: length)))
        }
        guard length <= writePayloadMaximumBytes else {
            return .invalid("WRITE of \(length) bytes exceeds \(writePayloadMaximumBytes)")
        }
        guard buffer.readableBytes >= NBDProtocol.requestHeaderSizeBytes + Int(length) else {
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: NBDProtocol.requestHeaderSizeBytes)
        // A slice shares the receive buffer's storage: the payload is not copied.
        let payload = buffer.readSlice(length: Int(length)) ?? ByteBuffer()
        return .frame(
            .request(
                NBDRequest(
                    flags: flags, type: type, cookie: cookie, offset: offset, length: length, payload: payload)))
    }
}
