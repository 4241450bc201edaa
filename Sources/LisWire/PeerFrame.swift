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
    /// The largest body: the largest block (64 MiB) and its message.
    public static let maxBodyBytes = 64 << 20 + 1 << 20

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
