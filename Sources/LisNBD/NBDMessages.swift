import NIOCore

/// A transmission request as decoded from the wire, before validation.
struct NBDRequest: Equatable {
    var flags: UInt16
    var type: UInt16
    var cookie: UInt64
    var offset: UInt64
    var length: UInt32
    /// The WRITE payload (a slice of the receive buffer); nil for every other type.
    var payload: ByteBuffer?
}

/// What the server sends during the handshake, in the order given.
enum NBDHandshakeMessage: Equatable {
    /// `NBDMAGIC`, `IHAVEOPT` and the 16-bit handshake flags.
    case greeting(handshakeFlags: UInt16)
    /// A fixed-newstyle option reply (`0x3e889045565a9`, option, type, length, data).
    case optionReply(option: UInt32, NBDOptionReply)
    /// The reply to `NBD_OPT_EXPORT_NAME`: size, transmission flags and, unless the client set
    /// `NBD_FLAG_C_NO_ZEROES`, 124 zero bytes. It has no option reply header.
    case exportNameReply(sizeBytes: UInt64, transmissionFlags: UInt16, zeroPadding: Bool)
}

/// The body of one option reply.
enum NBDOptionReply: Equatable {
    /// `NBD_REP_ACK`: the option succeeded (or a list ended).
    case ack
    /// `NBD_REP_SERVER`: one export in reply to `NBD_OPT_LIST`.
    case server(name: String)
    /// `NBD_REP_INFO` + `NBD_INFO_EXPORT`: size and transmission flags.
    case infoExport(sizeBytes: UInt64, transmissionFlags: UInt16)
    /// `NBD_REP_INFO` + `NBD_INFO_NAME`: the canonical export name.
    case infoName(String)
    /// `NBD_REP_INFO` + `NBD_INFO_DESCRIPTION`.
    case infoDescription(String)
    /// `NBD_REP_INFO` + `NBD_INFO_BLOCK_SIZE`.
    case infoBlockSize(NBDBlockSizes)
    /// An error reply type (bit 31 set) with an optional human-readable message.
    case error(type: UInt32, message: String)
}

/// A request's id (``NBDRequestToken/id``) as the in-flight set's key. The server numbers
/// requests in sequence, so no client chooses them, and a multiply spreads them over the set's
/// buckets: `UInt64`'s own hash runs SipHash, about 190 instructions per insert or remove.
struct RequestKey: Hashable {
    let id: UInt64
    init(_ id: UInt64) { self.id = id }
    func _rawHashValue(seed: Int) -> Int { Int(truncatingIfNeeded: (id ^ UInt64(truncatingIfNeeded: seed)) &* 0x9e37_79b9_7f4a_7c15) }
}

/// Identifies one command handed to the delegate, and carries what its reply needs, so that
/// completing it needs no lookup beyond the exactly-once check.
struct NBDRequestToken: Sendable, Equatable {
    enum Kind: UInt8, Sendable {
        case read
        case other
    }

    /// Unique per connection; the key of the in-flight set.
    var id: UInt64
    var cookie: UInt64
    var kind: Kind
    var offset: UInt64
    var length: UInt32
    /// Payload bytes counted against ``NBDServerLimits/inFlightBytesMaximum``.
    var payloadBytes: UInt32
}

/// How the delegate answered a command.
enum NBDCommandOutcome: Sendable, Equatable {
    case success(ByteBuffer?)
    case failure(NBDError)
}

/// One transmission reply, simple or structured.
struct NBDReply: Equatable {
    enum Body: Equatable {
        /// Simple reply without data: success (`nil`) or an error.
        case simple(NBDError?)
        /// Simple reply to a successful READ, followed by the data.
        case simpleRead(ByteBuffer)
        /// `NBD_REPLY_TYPE_OFFSET_DATA` with `NBD_REPLY_FLAG_DONE`.
        case structuredData(offset: UInt64, data: ByteBuffer)
        /// `NBD_REPLY_TYPE_ERROR` with `NBD_REPLY_FLAG_DONE` and no message.
        case structuredError(NBDError)
        /// `NBD_REPLY_TYPE_NONE` with `NBD_REPLY_FLAG_DONE`: success without data.
        case structuredDone
    }

    var cookie: UInt64
    var body: Body
}
