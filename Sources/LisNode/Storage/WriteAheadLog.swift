#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The appending side of the write-ahead log: `<dir>/wal/<16-digit seq>.log` segments.
///
/// Records collect in memory and reach the file in batches: one `pwrite` that starts with a
/// `batch` record, followed by `fdatasync`. A batch is written only by `flush`, which the store
/// calls after it synced the volume files, so **every record on disk describes data that is
/// already durable** — the log never claims a position whose bytes a crash could lose. The
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

    /// Writes the pending batch and makes it durable. The caller MUST have synced the volume
    /// files first (see the type's comment).
    mutating func flush() throws(StorageError) {
        guard !buffer.isEmpty else { return }
        // Move the buffer out (no copy) so `write` may mutate both it and `self`.
        var batch: [UInt8] = []
        swap(&batch, &buffer)
        defer {
            batch.removeAll(keepingCapacity: true)
            swap(&batch, &buffer)
        }
        try write(batch: &batch)
    }

    private mutating func write(batch: inout [UInt8]) throws(StorageError) {
        let seq = nextBatchSeq
        let bytes = UInt32(batch.count)
        batch.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: seq.littleEndian, toByteOffset: WALRecord.headerBytes, as: UInt64.self)
            raw.storeBytes(of: bytes.littleEndian, toByteOffset: WALRecord.headerBytes + 8, as: UInt32.self)
        }
        WALRecord.seal(&batch, recordAt: 0, payloadBytes: WALRecord.batchPayloadBytes)
        let fd = self.fd
        let at = segmentBytes
        let r = batch.withUnsafeBytes { StorageIO.pwriteAll(fd, $0, at: at) }
        if r != 0 { throw .os("cannot write the log", path: currentPath, code: r) }
        let s = StorageIO.syncData(fd)
        if s != 0 { throw .os("cannot sync the log", path: currentPath, code: s) }
        segmentBytes += UInt64(batch.count)
        bytesSinceCheckpoint += UInt64(batch.count)
        nextBatchSeq += 1
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
        try write(batch: &batch)
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
