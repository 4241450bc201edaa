/// Block contents as they travel in messages and replies. The core orders writes but never
/// holds block contents: where it needs stored bytes it names them (`read`, `transfer`) and the
/// shell that applies the effect fills them in from its storage before the message leaves.
public enum Payload: Hashable, Sendable {
    /// Concrete bytes (a write's data, or a reference already resolved by a shell).
    case bytes([UInt8])
    /// `length` zero bytes (NBD `WRITE_ZEROES` and `TRIM`); the shell may punch a hole.
    case zeros
    /// Bytes the shell holds under this handle (a network buffer it received), so large
    /// writes are not copied on their way through the core. Only the shell that created the
    /// handle can resolve it; it does so before the payload leaves the node.
    case external(UInt64)
    /// `length` bytes at `offset` within the block, as stored by the sending node.
    case read(BlockKey, offset: UInt32, length: UInt32)
    /// What the receiver lacks: the sender's log after `after` up to `upTo`, or the whole
    /// block when the sender's log does not contain `after` (the shell decides).
    case transfer(BlockKey, after: LogPosition, upTo: LogPosition)
    /// Bytes the shell read from storage under this handle when the core asked it to
    /// (`NodeEffect.holdRead`); resolving the payload releases them.
    case held(UInt64)

    /// Whether the payload is self-contained (can cross the network as it is).
    public var isResolved: Bool {
        switch self {
        case .bytes, .zeros: true
        case .read, .transfer, .external, .held: false
        }
    }
}

/// One write to one block, as the holder orders it.
public struct BlockWrite: Hashable, Sendable, Codable {
    /// Names the client write across retries and redirects, so a holder applies it once even
    /// when it arrives again after a steal adopted it (set by the node the client talks to).
    public var id: RequestID?
    public var offset: UInt32
    public var length: UInt32
    /// Force unit access: durable on Q2 before the acknowledgement (NBD `FUA`).
    public var fua: Bool
    public var data: Payload
    public init(offset: UInt32, length: UInt32, fua: Bool = false, data: Payload, id: RequestID? = nil) {
        self.id = id
        self.offset = offset
        self.length = length
        self.fua = fua
        self.data = data
    }
}

/// An operation on one block. A shell splits a client request that spans blocks.
public enum BlockOp: Hashable, Sendable, Codable {
    case write(BlockWrite)
    case read(offset: UInt32, length: UInt32)

    public var isWrite: Bool { if case .write = self { true } else { false } }
    public var length: UInt32 {
        switch self {
        case .write(let w): w.length
        case .read(_, let length): length
        }
    }
}

// MARK: On the wire

/// Where an encoder of peer messages puts block bytes, so that they travel beside the
/// structured message as raw bytes instead of inside it (LisWire's frames). Set under
/// `CodingUserInfoKey.payloadBytes`; without one, bytes are encoded inline.
public protocol PayloadBytesSink: AnyObject {
    /// Keeps `bytes` and returns their index among the message's payloads.
    func add(_ bytes: [UInt8]) -> Int
}

/// The decoding side of `PayloadBytesSink`.
public protocol PayloadBytesSource: AnyObject {
    /// The payload at `index`, or nil if the message has no such payload.
    func bytes(at index: Int) -> [UInt8]?
}

extension CodingUserInfoKey {
    /// A `PayloadBytesSink` (encoding) or `PayloadBytesSource` (decoding).
    public static let payloadBytes = CodingUserInfoKey(rawValue: "lis.payload-bytes")!
}

/// Only resolved payloads cross the network: a shell resolves references into its own storage
/// before a message leaves the node, so encoding one is an error, not a silent loss.
extension Payload: Codable {
    private enum CodingKeys: String, CodingKey {
        case zeros, bytes, inline
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .zeros:
            try container.encode(true, forKey: .zeros)
        case .bytes(let bytes):
            if let sink = encoder.userInfo[.payloadBytes] as? PayloadBytesSink {
                try container.encode(sink.add(bytes), forKey: .bytes)
            } else {
                try container.encode(bytes, forKey: .inline)
            }
        case .read, .transfer, .external, .held:
            throw EncodingError.invalidValue(
                self, .init(codingPath: encoder.codingPath, debugDescription: "an unresolved payload cannot be sent"))
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if try container.decodeIfPresent(Bool.self, forKey: .zeros) == true {
            self = .zeros
        } else if let index = try container.decodeIfPresent(Int.self, forKey: .bytes) {
            guard let source = decoder.userInfo[.payloadBytes] as? PayloadBytesSource,
                let bytes = source.bytes(at: index)
            else {
                throw DecodingError.dataCorruptedError(
                    forKey: .bytes, in: container, debugDescription: "no payload \(index) beside the message")
            }
            self = .bytes(bytes)
        } else if let bytes = try container.decodeIfPresent([UInt8].self, forKey: .inline) {
            self = .bytes(bytes)
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "an empty payload"))
        }
    }
}
