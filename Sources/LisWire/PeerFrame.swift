import NIOCore

/// A frame between two Lis nodes:
///
///     magic "LW" (2) | version (1) | type (1) | length (u32, big-endian) | body (length bytes)
///
/// The length is checked against `maxBodyBytes` before any byte of the body is buffered, so a
/// peer cannot make a node allocate more than one block and its message. Unknown versions and
/// types are errors, not skipped: a node of another protocol version must not be half
/// understood.
public struct PeerFrame: Equatable, Sendable {
    public enum Kind: UInt8, Sendable, CaseIterable {
        /// Who the sender is, and a fresh nonce the receiver must prove the secret against.
        case hello = 1
        /// The proof: an HMAC of the receiver's nonce under the cluster's join secret.
        case proof = 2
        /// A `PeerEnvelope`, encoded by `PeerCodec`.
        case envelope = 3
        /// One piece of an envelope too large for one frame (`PeerChunks`): index and count
        /// (u32 each), then at most `maxChunkBytes` of the envelope's body.
        case chunk = 4
    }

    public var kind: Kind
    public var body: ByteBuffer

    public init(kind: Kind, body: ByteBuffer) {
        self.kind = kind
        self.body = body
    }

    public static let magic: UInt16 = 0x4C57  // "LW"
    public static let version: UInt8 = 1
    public static let headerBytes = 8
    /// The largest envelope: the largest block (64 MiB) and its message. Envelopes above
    /// `maxChunkBytes` travel in chunks, so no frame is larger than a chunk.
    public static let maxBodyBytes = 64 << 20 + 1 << 20
    /// The most envelope bytes in one frame; the largest frame a peer may send.
    public static let maxChunkBytes = 1 << 20
    public static let maxFrameBodyBytes = maxChunkBytes + 8

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(Self.magic)
        buffer.writeInteger(Self.version)
        buffer.writeInteger(kind.rawValue)
        buffer.writeInteger(UInt32(body.readableBytes))
        var body = body
        buffer.writeBuffer(&body)
    }

    /// Reads one frame from the front of `buffer`: nil if it does not hold a whole frame yet
    /// (nothing is consumed), an error if what it holds cannot be a frame.
    public static func read(from buffer: inout ByteBuffer, maxBodyBytes: Int = maxBodyBytes) throws(PeerFrameError)
        -> PeerFrame?
    {
        guard let magic = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) else { return nil }
        guard magic == Self.magic else { throw .badMagic(magic) }
        guard let version = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt8.self) else { return nil }
        guard version == Self.version else { throw .unsupportedVersion(version) }
        guard let rawKind = buffer.getInteger(at: buffer.readerIndex + 3, as: UInt8.self) else { return nil }
        guard let kind = Kind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
        guard let length = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt32.self) else { return nil }
        guard Int(length) <= maxBodyBytes else { throw .tooLarge(Int(length), limit: maxBodyBytes) }
        guard buffer.readableBytes >= headerBytes + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: headerBytes)
        let body = buffer.readSlice(length: Int(length))!
        return PeerFrame(kind: kind, body: body)
    }
}

/// Why bytes from a peer are not a frame or not a message. Every one closes the connection:
/// after a bad frame, nothing that follows can be trusted to start at a frame boundary.
public enum PeerFrameError: Error, Equatable, Sendable, CustomStringConvertible {
    case badMagic(UInt16)
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    case tooLarge(Int, limit: Int)
    /// The body of a frame is not what its kind says.
    case malformedBody(String)

    public var description: String {
        switch self {
        case .badMagic(let magic): "not a Lis peer (magic 0x\(String(magic, radix: 16)))"
        case .unsupportedVersion(let version): "peer protocol version \(version); this node speaks \(PeerFrame.version)"
        case .unknownKind(let kind): "unknown frame type \(kind)"
        case .tooLarge(let length, let limit): "a frame of \(length) bytes (the limit is \(limit))"
        case .malformedBody(let why): "malformed frame: \(why)"
        }
    }
}

/// Envelopes above `PeerFrame.maxChunkBytes` split into `chunk` frames sent one after the other
/// on one connection, and put back together on the other side: a transfer of a 64 MiB block
/// is 64 frames, so no frame (and no buffer before authentication of its size) is large, and
/// a lane's frames can be paced one chunk at a time.
public enum PeerChunks {
    /// The frames that carry `frame` (an envelope): itself if it is small enough.
    public static func split(_ frame: PeerFrame) -> [PeerFrame] {
        let total = frame.body.readableBytes
        guard frame.kind == .envelope, total > PeerFrame.maxChunkBytes else { return [frame] }
        let count = (total + PeerFrame.maxChunkBytes - 1) / PeerFrame.maxChunkBytes
        var body = frame.body
        return (0..<count).map { index in
            let piece = body.readSlice(length: min(PeerFrame.maxChunkBytes, body.readableBytes))!
            var chunk = ByteBuffer()
            chunk.reserveCapacity(8 + piece.readableBytes)
            chunk.writeInteger(UInt32(index))
            chunk.writeInteger(UInt32(count))
            chunk.writeImmutableBuffer(piece)
            return PeerFrame(kind: .chunk, body: chunk)
        }
    }

    /// Puts the chunks of one connection back together, in order: a chunk out of order, a
    /// count that changes, an empty or oversized piece, or more than `PeerFrame.maxBodyBytes`
    /// in all is an error (the connection is closed).
    public struct Assembler: Sendable {
        private var body: ByteBuffer?
        private var next = 0
        private var count = 0

        public init() {}

        /// Whether a chunked envelope is under way (an envelope frame must not interrupt it).
        public var isAssembling: Bool { body != nil }

        /// Adds a chunk; returns the envelope frame once its last chunk arrived.
        public mutating func add(_ chunk: PeerFrame) throws(PeerFrameError) -> PeerFrame? {
            var bytes = chunk.body
            guard chunk.kind == .chunk, let index = bytes.readInteger(as: UInt32.self), let of = bytes.readInteger(as: UInt32.self)
            else { throw .malformedBody("a chunk without its index and count") }
            let maxCount = (PeerFrame.maxBodyBytes + PeerFrame.maxChunkBytes - 1) / PeerFrame.maxChunkBytes
            guard of >= 2, Int(of) <= maxCount else { throw .malformedBody("a chunked envelope of \(of) chunks") }
            guard bytes.readableBytes > 0, bytes.readableBytes <= PeerFrame.maxChunkBytes else {
                throw .malformedBody("a chunk of \(bytes.readableBytes) bytes")
            }
            if body == nil {
                guard index == 0 else { throw .malformedBody("chunk \(index) of \(of) without the ones before it") }
                body = ByteBuffer()
                count = Int(of)
            } else {
                guard Int(index) == next, Int(of) == count else {
                    throw .malformedBody("chunk \(index) of \(of) where chunk \(next) of \(count) was due")
                }
            }
            guard body!.readableBytes + bytes.readableBytes <= PeerFrame.maxBodyBytes else {
                throw .tooLarge(body!.readableBytes + bytes.readableBytes, limit: PeerFrame.maxBodyBytes)
            }
            body!.writeBuffer(&bytes)
            next = Int(index) + 1
            guard next == count else { return nil }
            defer {
                body = nil
                next = 0
                count = 0
            }
            return PeerFrame(kind: .envelope, body: body!)
        }
    }
}
