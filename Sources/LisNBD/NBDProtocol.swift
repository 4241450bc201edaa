// Wire constants of the NBD protocol, as defined by NetworkBlockDevice/nbd `doc/proto.md`.
// Every integer on the wire is big-endian; these are the values, not their byte layout.

/// The numbers that appear on the wire. Grouped by the message they belong to so that a
/// reader can check each one against the spec's "Values" section.
enum NBDProtocol {
    /// `NBDMAGIC`, the first 8 bytes the server sends.
    static let initPasswd: UInt64 = 0x4e42_444d_4147_4943
    /// `IHAVEOPT`: sent by the server after `NBDMAGIC`, and by the client before every option.
    static let optionMagic: UInt64 = 0x4948_4156_454F_5054
    /// Prefix of every fixed-newstyle option reply.
    static let optionReplyMagic: UInt64 = 0x0003_e889_0455_65a9
    /// `NBD_REQUEST_MAGIC`, the first 4 bytes of every transmission request.
    static let requestMagic: UInt32 = 0x2560_9513
    /// `NBD_SIMPLE_REPLY_MAGIC`.
    static let simpleReplyMagic: UInt32 = 0x6744_6698
    /// `NBD_STRUCTURED_REPLY_MAGIC`.
    static let structuredReplyMagic: UInt32 = 0x668e_33ef

    /// Sizes of the fixed parts of messages, in bytes.
    static let greetingSizeBytes = 18
    static let clientFlagsSizeBytes = 4
    static let optionHeaderSizeBytes = 16
    static let requestHeaderSizeBytes = 28
    static let simpleReplySizeBytes = 16
    static let structuredReplyHeaderSizeBytes = 20
    /// Zero padding after an `NBD_OPT_EXPORT_NAME` reply unless `NBD_FLAG_C_NO_ZEROES`.
    static let exportNamePaddingBytes = 124
    /// The spec's limit on any string (export names, messages).
    static let stringMaximumBytes = 4096
    /// Lengths below this SHOULD NOT be treated as a denial of service (spec, "Block size
    /// constraints"), so a WRITE is only dropped hard above max(this, advertised maximum).
    static let denialOfServiceFloorBytes: UInt32 = 1 << 25

    /// Handshake flags (server, 16 bits).
    enum HandshakeFlag {
        static let fixedNewstyle: UInt16 = 1 << 0
        static let noZeroes: UInt16 = 1 << 1
    }

    /// Client flags (32 bits).
    enum ClientFlag {
        static let fixedNewstyle: UInt32 = 1 << 0
        static let noZeroes: UInt32 = 1 << 1
        static let known: UInt32 = fixedNewstyle | noZeroes
    }

    /// Transmission flags (16 bits).
    enum TransmissionFlag {
        static let hasFlags: UInt16 = 1 << 0
        static let readOnly: UInt16 = 1 << 1
        static let sendFlush: UInt16 = 1 << 2
        static let sendFUA: UInt16 = 1 << 3
        static let rotational: UInt16 = 1 << 4
        static let sendTrim: UInt16 = 1 << 5
        static let sendWriteZeroes: UInt16 = 1 << 6
        static let sendDF: UInt16 = 1 << 7
        static let canMultiConn: UInt16 = 1 << 8
        static let sendCache: UInt16 = 1 << 10
        static let sendFastZero: UInt16 = 1 << 11
    }

    /// Option codes (`NBD_OPT_*`).
    enum Option {
        static let exportName: UInt32 = 1
        static let abort: UInt32 = 2
        static let list: UInt32 = 3
        static let startTLS: UInt32 = 5
        static let info: UInt32 = 6
        static let go: UInt32 = 7
        static let structuredReply: UInt32 = 8
        static let listMetaContext: UInt32 = 9
        static let setMetaContext: UInt32 = 10
        static let extendedHeaders: UInt32 = 11
    }

    /// Option reply types (`NBD_REP_*`). Errors have bit 31 set.
    enum OptionReplyType {
        static let ack: UInt32 = 1
        static let server: UInt32 = 2
        static let info: UInt32 = 3
        static let errorBit: UInt32 = 1 << 31
        static let errUnsupported: UInt32 = errorBit | 1
        static let errPolicy: UInt32 = errorBit | 2
        static let errInvalid: UInt32 = errorBit | 3
        static let errPlatform: UInt32 = errorBit | 4
        static let errTLSRequired: UInt32 = errorBit | 5
        static let errUnknown: UInt32 = errorBit | 6
        static let errShutdown: UInt32 = errorBit | 7
        static let errBlockSizeRequired: UInt32 = errorBit | 8
        static let errTooBig: UInt32 = errorBit | 9
    }

    /// Information types in `NBD_REP_INFO` replies and `NBD_OPT_INFO`/`GO` requests.
    enum InfoType {
        static let export: UInt16 = 0
        static let name: UInt16 = 1
        static let description: UInt16 = 2
        static let blockSize: UInt16 = 3
    }

    /// Request types (`NBD_CMD_*`).
    enum Command {
        static let read: UInt16 = 0
        static let write: UInt16 = 1
        static let disconnect: UInt16 = 2
        static let flush: UInt16 = 3
        static let trim: UInt16 = 4
        static let cache: UInt16 = 5
        static let writeZeroes: UInt16 = 6
        static let blockStatus: UInt16 = 7
    }

    /// Command flags (`NBD_CMD_FLAG_*`).
    enum CommandFlag {
        static let fua: UInt16 = 1 << 0
        static let noHole: UInt16 = 1 << 1
        static let dontFragment: UInt16 = 1 << 2
        static let requestOne: UInt16 = 1 << 3
        static let fastZero: UInt16 = 1 << 4
    }

    /// Structured reply chunk flags and types.
    enum ReplyFlag {
        static let done: UInt16 = 1 << 0
    }

    enum ReplyType {
        static let none: UInt16 = 0
        static let offsetData: UInt16 = 1
        static let offsetHole: UInt16 = 2
        static let blockStatus: UInt16 = 5
        static let error: UInt16 = (1 << 15) | 1
        static let errorOffset: UInt16 = (1 << 15) | 2
    }
}
