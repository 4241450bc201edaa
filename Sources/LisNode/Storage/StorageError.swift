#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the block store refused an operation or could not open. It names the file (and the
/// byte offset for log damage) and the OS error, so an operator knows what failed and where.
public struct StorageError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// A system call failed (`errno` says why). After a failed write or sync the store
        /// refuses everything (`failedEarlier`): the page cache may have dropped the data.
        case io
        /// A WAL record that is not a torn tail fails its checksum or does not make sense.
        /// The store does not open: serving state built on it could serve wrong data.
        case corruptLog
        /// The on-disk layout contradicts the log (a volume file missing or too short).
        case inconsistentLayout
        /// Another process (or another `BlockStore` in this one) has the directory open.
        case locked
        case invalidVolumeName
        case unknownVolume
        case volumeExists
        /// Sizes or ranges that do not fit the volume (or shrinking a volume).
        case invalidArgument
        /// A payload that the shell must resolve (`.read`, `.transfer`) reached storage.
        case unresolvedPayload
        /// An earlier write or sync failed; the store must be closed and reopened.
        case failedEarlier
        case closed
    }

    public var kind: Kind
    public var message: String
    public var path: String?
    /// For `corruptLog`: where in `path` the bad record starts.
    public var offset: UInt64?
    public var errno: Int32?

    public init(_ kind: Kind, _ message: String, path: String? = nil, offset: UInt64? = nil, errno: Int32? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
        self.offset = offset
        self.errno = errno
    }

    /// An OS error from the call that just failed, reading the thread's `errno` now.
    static func os(_ what: String, path: String, code: Int32? = nil) -> StorageError {
        StorageError(.io, what, path: path, errno: code ?? lastErrno())
    }

    public var description: String {
        var s = "storage: \(message)"
        if let path { s += ": \(path)" }
        if let offset { s += " at byte \(offset)" }
        if let errno { s += ": \(String(cString: strerror(errno))) (errno \(errno))" }
        return s
    }
}

/// The calling thread's `errno` (a function so that `StorageError.errno` does not shadow it).
func lastErrno() -> Int32 { errno }
