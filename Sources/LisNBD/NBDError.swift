/// The error values the NBD protocol allows in a reply (spec, "Error values").
public enum NBDError: UInt32, Sendable, Error {
    /// Operation not permitted: a write to a read-only export.
    case eperm = 1
    /// Input/output error: the backing store failed.
    case eio = 5
    /// Cannot allocate memory; the spec asks servers to avoid it.
    case enomem = 12
    /// Invalid argument: unknown command or flag, out-of-range read or trim, misaligned request.
    case einval = 22
    /// No space left: a write beyond the end of the export, or the store is full.
    case enospc = 28
    /// Value too large: only for READ with `NBD_CMD_FLAG_DF`.
    case eoverflow = 75
    /// Operation not supported: only for WRITE_ZEROES with `NBD_CMD_FLAG_FAST_ZERO`.
    case enotsup = 95
    /// The server is shutting down; the client MUST disconnect.
    case eshutdown = 108
}
