#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin wrappers over the POSIX calls the store makes. Calls that sit on the hot path return
/// an errno (0 on success) instead of throwing, so callers decide whether a failure poisons
/// the store; the rest throw `StorageError` naming the path.
enum StorageIO {
    /// Writes all of `bytes` at `offset`, retrying short writes and EINTR. Returns 0 or errno.
    static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Int32 {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return EIO }
            done += n
        }
        return 0
    }

    /// Reads up to `buffer.count` bytes at `offset`, retrying short reads and EINTR.
    /// Returns how many bytes it read (fewer only at end of file), and 0 or the errno.
    static func preadAll(
        _ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: UInt64
    ) -> (bytes: Int, errno: Int32) {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                return (done, errno)
            }
            if n == 0 { break }
            done += n
        }
        return (done, 0)
    }

    /// Makes the file's data (and the metadata needed to read it, such as its size) durable.
    static func syncData(_ fd: Int32) -> Int32 {
        while true {
            #if os(Linux)
            let r = fdatasync(fd)
            #else
            // Darwin's fsync does not flush the drive's cache; F_FULLFSYNC does.
            let r = fcntl(fd, F_FULLFSYNC)
            #endif
            if r == 0 { return 0 }
            if errno != EINTR { return errno }
        }
    }

    /// Makes the file (or directory: its entries) and all its metadata durable.
    static func syncAll(_ fd: Int32) -> Int32 {
        while true {
            if fsync(fd) == 0 { return 0 }
            if errno != EINTR { return errno }
        }
    }

    static func openFile(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(StorageError) -> Int32 {
        while true {
            let fd = open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw .os("cannot open", path: path) }
        }
    }

    /// `close(2)`; errors are ignored (there is nothing useful to do after a failed close,
    /// and everything that must be durable was synced before).
    static func closeFile(_ fd: Int32) {
        _ = close(fd)
    }

    /// fsync a directory, so that files created, renamed or removed in it stay so.
    static func syncDirectory(_ path: String) throws(StorageError) {
        let fd = try openFile(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        let r = syncAll(fd)
        if r != 0 { throw .os("cannot sync directory", path: path, code: r) }
    }

    /// Creates `path` (and missing parents) as a directory; fine if it exists.
    static func makeDirectories(_ path: String) throws(StorageError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw .os("cannot create directory", path: prefix)
            }
            prefix += "/"
        }
        var st = stat()
        if stat(path, &st) != 0 { throw .os("cannot stat", path: path) }
        if (st.st_mode & S_IFMT) != S_IFDIR { throw StorageError(.io, "not a directory", path: path) }
    }

    /// The names in a directory, without `.` and `..`, sorted (readdir order is arbitrary).
    static func list(_ path: String) throws(StorageError) -> [String] {
        guard let dir = opendir(path) else { throw .os("cannot list directory", path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { p in
                p.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func size(_ fd: Int32, path: String) throws(StorageError) -> UInt64 {
        var st = stat()
        if fstat(fd, &st) != 0 { throw .os("cannot stat", path: path) }
        return UInt64(st.st_size)
    }

    static func truncate(_ fd: Int32, to size: UInt64, path: String) throws(StorageError) {
        while ftruncate(fd, off_t(size)) != 0 {
            if errno != EINTR { throw .os("cannot set the size to \(size) bytes of", path: path) }
        }
    }

    /// The whole file, read at once (WAL segments at recovery).
    static func readAll(_ path: String) throws(StorageError) -> [UInt8] {
        let fd = try openFile(path, O_RDONLY)
        defer { close(fd) }
        let size = try self.size(fd, path: path)
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let (n, e) = bytes.withUnsafeMutableBytes { preadAll(fd, $0, at: 0) }
        if e != 0 { throw .os("cannot read", path: path, code: e) }
        if n != bytes.count { throw StorageError(.io, "short read of \(n) of \(size) bytes", path: path) }
        return bytes
    }

    /// `fallocate(2)`, looked up at run time: Swift's Glibc module does not declare it (it needs
    /// `_GNU_SOURCE`), and where it is missing the store writes zeroes instead.
    typealias Fallocate = @convention(c) (Int32, Int32, Int64, Int64) -> Int32
    static let fallocate: Fallocate? = {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "fallocate") else { return nil }
        return unsafeBitCast(symbol, to: Fallocate.self)
        #else
        return nil
        #endif
    }()
    static let fallocKeepSize: Int32 = 0x01
    static let fallocPunchHole: Int32 = 0x02
}
