import NIOCore

/// A transmission-phase request that passed validation and is handed to the delegate.
///
/// Every range is inside the export and aligned to the advertised minimum block size; lengths
/// are non-zero; READ lengths are at most the advertised maximum. `NBD_CMD_DISC` never reaches
/// the delegate: the server handles it.
public enum NBDCommand: Sendable, Equatable {
    /// Read `length` bytes at `offset`; answer with ``NBDResponder/succeed(data:)`` carrying
    /// exactly `length` bytes.
    case read(offset: UInt64, length: UInt32)
    /// Write `data` (a slice of the receive buffer; `data.readableBytes` is the length) at
    /// `offset`. With `fua` the reply MUST wait until the data is durable.
    case write(offset: UInt64, data: ByteBuffer, fua: Bool)
    /// Make every write already answered durable before answering.
    case flush
    /// The client no longer needs the range; the delegate MAY discard it (or do nothing).
    case trim(offset: UInt64, length: UInt32, fua: Bool)
    /// Make the range read as zeroes. With `noHole` the range MUST stay allocated.
    case writeZeroes(offset: UInt64, length: UInt32, fua: Bool, noHole: Bool)
}
