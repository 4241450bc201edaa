#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// An exclusive lock on a data directory, held for the life of the process, so a second
/// `lis serve` on the same directory stops with a clear error instead of corrupting it.
/// `flock` locks die with the process, so a crash never leaves a stale lock behind.
public final class DataDirectoryLock: Sendable {
    public let path: String
    private let fd: Int32

    public struct Busy: Error, CustomStringConvertible {
        public var directory: String
        public var holder: String
        public var description: String {
            "data directory \(directory) is in use by another lis process\(holder.isEmpty ? "" : " (pid \(holder))"); "
                + "stop it first or choose another --data-dir"
        }
    }

    public init(directory: String) throws {
        path = directory + "/lock"
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw NodeStartError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw Busy(directory: directory, holder: holder)
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit { close(fd) }
}

/// Why a node could not start; the message says what to do.
public struct NodeStartError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
