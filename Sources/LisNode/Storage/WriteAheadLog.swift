#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The appending side of the write-ahead log: `<dir>/wal/<16-digit seq>.log` segments.
///
/// Records collect in memory and reach the file in batches: one `pwrite` that starts with a
/// `batch` record, followed by `fdatasync`. A batch is taken (`takeBatch`) and written
/// (`Batch.write`) only by the store's sync, after it synced the volume files, so **every
/// record on disk describes data that is already durable** — the log never claims a position
/// whose bytes a crash could lose. The
/// converse (data on disk newer than the log's position) is allowed: it is the "or more" of
/// the block-device contract.
struct WriteAheadLog {
    let directory: String
    private(set) var segmentSeq: UInt64
    private var fd: Int32
    /// Bytes of the current segment on disk.
    private(set) var segmentBytes: UInt64
    /// The sequence number the next batch gets.
    private(set) var nextBatchSeq: UInt64
    /// Bytes written after the newest checkpoint (or since the log began), and the size of that
    /// checkpoint's batch: a checkpoint is due when the former outgrows the threshold and the
    /// latter, so that a large state does not checkpoint on every sync.
    private(set) var bytesSinceCheckpoint: UInt64
    private(set) var checkpointBytes: UInt64
    /// Records not yet written, behind a placeholder batch record.
    private(set) var buffer: [UInt8] = []
    /// The memory of the last written batch, for the next one.
    private var spare: [UInt8] = []

    init(directory: String, after recovery: WALReader.Outcome, bufferCapacity: Int) throws(StorageError) {
        self.directory = directory
        nextBatchSeq = recovery.nextBatchSeq
        bytesSinceCheckpoint = recovery.bytesSinceCheckpoint
        checkpointBytes = recovery.checkpointBytes
        buffer.reserveCapacity(bufferCapacity + 4096)
        if let last = recovery.segments.last {
            segmentSeq = last
            let path = Self.path(directory, last)
            fd = try StorageIO.openFile(path, O_WRONLY)
            segmentBytes = try StorageIO.size(fd, path: path)
        } else {
            segmentSeq = 1
            let path = Self.path(directory, 1)
            fd = try StorageIO.openFile(path, O_WRONLY | O_CREAT | O_EXCL)
            segmentBytes = 0
            try StorageIO.syncDirectory(directory)
        }
    }

    static func name(_ seq: UInt64) -> String {
        let digits = String(seq)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits + ".log"
    }
    static func path(_ directory: String, _ seq: UInt64) -> String { directory + "/" + name(seq) }
    var currentPath: String { Self.path(directory, segmentSeq) }

    var bufferedBytes: Int { buffer.count }
    var isEmpty: Bool { buffer.isEmpty }

    /// Adds a record to the next batch (no system call).
    mutating func append(_ record: WALRecord) {
        if buffer.isEmpty { WALRecord.batch(seq: 0, bytes: 0).encode(into: &buffer) }
        record.encode(into: &buffer)
    }

    /// A sealed batch, its place in the segment taken: `write()` puts it there from any thread
    /// while the owner goes on appending to the next one. Batches must be written in the order
    /// they were taken, each after the one before it is durable (the store runs one at a time).
    struct Batch: Sendable {
        var bytes: [UInt8]
        let fd: Int32
        let offset: UInt64
        let path: String

        /// `pwrite` then `fdatasync`; the error, if any.
        func write() -> StorageError? {
            let (fd, at) = (self.fd, offset)
            let r = bytes.withUnsafeBytes { StorageIO.pwriteAll(fd, $0, at: at) }
            if r != 0 { return .os("cannot write the log", path: path, code: r) }
            let s = StorageIO.syncData(fd)
            if s != 0 { return .os("cannot sync the log", path: path, code: s) }
            return nil
        }
    }

    /// Seals the pending records as the next batch and takes its place in the segment; nil if
    /// there are none. If the batch then fails to be written, the store fails (fail-stop), so
    /// taking the place before the write is safe.
    mutating func takeBatch() -> Batch? {
        guard !buffer.isEmpty else { return nil }
        var batch: [UInt8] = spare
        spare = []
        swap(&batch, &buffer)
        let seq = nextBatchSeq
        let bytes = UInt32(batch.count)
        batch.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: seq.littleEndian, toByteOffset: WALRecord.headerBytes, as: UInt64.self)
            raw.storeBytes(of: bytes.littleEndian, toByteOffset: WALRecord.headerBytes + 8, as: UInt32.self)
        }
        WALRecord.seal(&batch, recordAt: 0, payloadBytes: WALRecord.batchPayloadBytes)
        let taken = Batch(bytes: batch, fd: fd, offset: segmentBytes, path: currentPath)
        segmentBytes += UInt64(batch.count)
        bytesSinceCheckpoint += UInt64(batch.count)
        nextBatchSeq += 1
        return taken
    }

    /// Keeps a written batch's memory for the next one (no allocation per sync).
    mutating func give(back batch: inout Batch) {
        batch.bytes.removeAll(keepingCapacity: true)
        if spare.capacity < batch.bytes.capacity { swap(&spare, &batch.bytes) }
    }

    func checkpointDue(afterBytes threshold: UInt64) -> Bool {
        bytesSinceCheckpoint > max(threshold, checkpointBytes)
    }

    /// Starts a new segment whose first record is `state`, makes it durable, then removes the
    /// older segments. The caller MUST have flushed (the pending batch would be lost) and synced
    /// the volume files (the checkpoint states their positions).
    ///
    /// A crash at any point leaves a log that recovers to the same state: before the new
    /// segment is durable, the old ones are complete and a torn new segment is cut to nothing;
    /// after, replay ends with the checkpoint whether or not the old ones are gone yet.
    mutating func startSegment(checkpoint state: StoreState) throws(StorageError) {
        precondition(buffer.isEmpty, "checkpoint with unflushed log records")
        let newSeq = segmentSeq + 1
        let newPath = Self.path(directory, newSeq)
        let newFD = try StorageIO.openFile(newPath, O_WRONLY | O_CREAT | O_TRUNC)
        var batch: [UInt8] = []
        WALRecord.batch(seq: 0, bytes: 0).encode(into: &batch)
        WALRecord.checkpoint(state).encode(into: &batch)
        let oldFD = fd
        let oldSeq = segmentSeq
        fd = newFD
        segmentSeq = newSeq
        segmentBytes = 0
        swap(&batch, &buffer)
        guard let taken = takeBatch() else { preconditionFailure("a checkpoint batch is never empty") }
        if let error = taken.write() { throw error }
        batch = taken.bytes
        try StorageIO.syncDirectory(directory)
        close(oldFD)
        checkpointBytes = UInt64(batch.count)
        bytesSinceCheckpoint = 0
        // Oldest first, so that a crash midway leaves a contiguous run of segments.
        for name in try StorageIO.list(directory) {
            guard let seq = WALReader.segmentSeq(name), seq <= oldSeq else { continue }
            let path = directory + "/" + name
            if unlink(path) != 0 { throw .os("cannot remove old log segment", path: path) }
        }
        try StorageIO.syncDirectory(directory)
    }

    /// Drops unwritten records and closes the file (a crash, as far as the log is concerned).
    mutating func abandon() {
        buffer.removeAll()
        if fd >= 0 { close(fd) }
        fd = -1
    }
}
