#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LisCore
import DequeModule
import Dispatch
import Synchronization

/// A node's durable storage: the volumes' bytes and, per block, the promise and the position
/// that the protocol core (`NodeCore`) needs back after a restart. The shell applies the core's
/// `persistWrite`, `persistPromise`, `installTransfer` and `sync` effects here, in order.
///
/// On disk, under `directory`:
/// * `volumes/<name>.img` — one sparse file per volume, its size the volume's. Writes go in
///   place with `pwrite` (the page cache); zeroes punch holes.
/// * `wal/<16-digit seq>.log` — the write-ahead log of metadata (volumes, promises, positions);
///   see `WALRecord` for the format and `WALReader` for the recovery rules.
/// * `storage.lock` — held with `flock` while the store is open, so two processes cannot share it.
///
/// Durability follows the block-device contract (DESIGN §3): a write returns once it is in the
/// page cache and may be lost by a crash, as on a disk; `sync()` (NBD FLUSH) makes everything
/// before it durable; `durable:` writes (FUA), promises, installs and volume changes are
/// durable before they return. Volume files are always synced before the log records that
/// describe them, so after a crash the log never claims a position whose data was lost; the
/// data may be newer than the log says (the "or more" a disk may also return).
///
/// Not thread-safe, by design: one owner (the node's event loop or actor) calls it, and every
/// call is synchronous. A 4 KiB write costs one `pwrite` and an append to an in-memory buffer.
/// After a failed write or sync the store refuses everything (`StorageError.Kind.failedEarlier`):
/// after a failed `fsync` the kernel may have dropped the dirty pages, so carrying on could
/// acknowledge data that is gone (the PostgreSQL "fsyncgate" lesson).
public final class BlockStore {
    /// What was on disk when the store opened.
    public struct Recovered: Sendable, Equatable {
        public var volumes: [VolumeName: VolumeGeometry] = [:]
        /// The promise of every block that has one.
        public var promises: [BlockKey: Epoch] = [:]
        /// The position of every block written or installed.
        public var positions: [BlockKey: LogPosition] = [:]
        /// The ids of the newest writes other nodes sent each block, oldest first (`NodeCore.restore`).
        public var recent: [BlockKey: [WriteRef]] = [:]
        /// Bytes of a torn last batch cut off the log (writes that were never synced).
        public var droppedTailBytes = 0
        /// Log records replayed.
        public var records = 0
        /// Log segments replayed.
        public var segments = 0
        /// The store was closed with `close()` (not crashed) and nothing was dropped.
        public var cleanShutdown = false
        /// Volume files that no volume owns (a create or delete interrupted by a crash), removed.
        public var removedOrphanFiles: [String] = []

        /// One line for the node's log.
        public var summary: String {
            "\(volumes.count) volumes, \(promises.count) promises, \(positions.count) positions from "
                + "\(records) records in \(segments) segments; "
                + (cleanShutdown ? "clean shutdown" : "unclean shutdown")
                + (droppedTailBytes > 0 ? ", dropped a torn tail of \(droppedTailBytes) bytes" : "")
                + (removedOrphanFiles.isEmpty ? "" : ", removed orphan files \(removedOrphanFiles)")
        }
    }

    /// Bounds on memory and log size.
    public struct Limits: Sendable {
        /// Write a checkpoint and drop older log segments once this many bytes were logged after
        /// the last one (or more, if the checkpoint itself is bigger).
        public var checkpointAfterBytes: UInt64
        /// Sync once this many log bytes wait in memory, even without a FLUSH.
        public var walBufferBytes: Int
        public init(checkpointAfterBytes: UInt64 = 64 << 20, walBufferBytes: Int = 1 << 20) {
            precondition(checkpointAfterBytes > 0 && walBufferBytes > 0, "storage limits must be positive")
            self.checkpointAfterBytes = checkpointAfterBytes
            self.walBufferBytes = walBufferBytes
        }
    }

    /// Counters for logs and the dashboard.
    public struct Stats: Sendable, Equatable {
        public var writes = 0
        public var syncs = 0
        public var checkpoints = 0
    }

    public let directory: String
    public let limits: Limits
    public private(set) var recovered: Recovered
    public private(set) var stats = Stats()

    var state: StoreState
    var files: [VolumeName: VolumeFile]
    /// Volume files written since the last sync (each once; `VolumeFile.dirty` says whether listed).
    var dirtyFiles: [VolumeFile] = []
    /// Blocks written since the last sync, with their newest position (bounded by the number
    /// of blocks, so it never forces a sync).
    var unloggedPositions: [SlotKey: LogPosition] = [:]
    /// Blocks whose recent writes (`state.recent`) changed since the last sync: how many of
    /// the newest are not logged yet; `Int.max`: the list was cut or replaced, log it whole.
    var unloggedRecent: [SlotKey: Int] = [:]
    var wal: WriteAheadLog
    /// The sync whose system calls run off the owner's thread (`beginSync`), until finished.
    private(set) var running: SyncJob?
    /// Writes stored off the owner's thread (`queueWrite`): queued for the next job, handed
    /// over in jobs not yet reaped, the id the next job gets and the newest stored.
    var writesQueued: [WriteJob.Item] = []
    var writesInFlight: Deque<WriteJob> = []
    var nextWriteJob: UInt64 = 1
    var writesDoneThrough: UInt64 = 0
    private var lockFD: Int32
    private(set) var failure: StorageError?
    private(set) var isClosed = false
    /// Zeroes for the unaligned edges of a zero write (and all of it without hole punching).
    let zeroes: UnsafeMutableRawBufferPointer
    var punchHoleSupported = StorageIO.fallocate != nil

    var volumesDirectory: String { directory + "/volumes" }
    var walDirectory: String { directory + "/wal" }

    /// Opens the store in `directory`, creating the layout if needed, and recovers what the log
    /// says. Throws `corruptLog` (naming the file and offset) if a record other than a torn
    /// tail is damaged, and `inconsistentLayout` if a volume file is missing or too short.
    public init(directory: String, limits: Limits = Limits()) throws(StorageError) {
        self.directory = directory
        self.limits = limits
        let volumesDirectory = directory + "/volumes"
        let walDirectory = directory + "/wal"
        try StorageIO.makeDirectories(volumesDirectory)
        try StorageIO.makeDirectories(walDirectory)
        try StorageIO.syncDirectory(directory)

        let lockPath = directory + "/storage.lock"
        let lockFD = try StorageIO.openFile(lockPath, O_RDWR | O_CREAT)
        if flock(lockFD, LOCK_EX | LOCK_NB) != 0 {
            let code = lastErrno()
            StorageIO.closeFile(lockFD)
            throw StorageError(.locked, "the store is open elsewhere", path: lockPath, errno: code)
        }
        var opened: [VolumeFile] = []
        do throws(StorageError) {
            let outcome = try WALReader.recover(directory: walDirectory)
            let (files, orphans) = try Self.openVolumeFiles(outcome.state, in: volumesDirectory, opened: &opened)
            self.wal = try WriteAheadLog(directory: walDirectory, after: outcome, bufferCapacity: limits.walBufferBytes)
            self.state = outcome.state
            self.files = files
            self.recovered = Self.recovered(outcome, orphans: orphans)
        } catch {
            for file in opened { StorageIO.closeFile(file.fd) }
            StorageIO.closeFile(lockFD)
            throw error
        }
        self.lockFD = lockFD
        zeroes = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 4096)
        zeroes.initializeMemory(as: UInt8.self, repeating: 0)
        // Segments left over from a checkpoint interrupted by a crash: fold them into one now
        // rather than replay them at every start.
        if recovered.segments > 1 {
            try sync(checkpointIfDue: false)
            try checkpoint()
        }
    }

    deinit {
        if !isClosed { releaseResources() }
        zeroes.deallocate()
    }

    // MARK: Durability

    /// Makes everything stored so far durable (NBD FLUSH, the `sync` effect): the written
    /// volume files first, then the log. Cheap when nothing changed (no system call).
    public func sync() throws(StorageError) {
        try sync(checkpointIfDue: true)
    }

    func sync(checkpointIfDue: Bool) throws(StorageError) {
        try checkUsable()
        try finishRunningSync()
        if let job = try beginSync() {
            job.run()
            try finishSync(job)
        }
        if checkpointIfDue && wal.checkpointDue(afterBytes: limits.checkpointAfterBytes) { try checkpoint() }
    }

    /// A sync split in three so that its system calls can run off the owner's thread (an NBD
    /// FLUSH must not stall other clients' I/O): `beginSync` on the owner takes what is to be
    /// made durable — the volume files written since the last sync, and the log records of
    /// their blocks' positions as one sealed batch —, `run` does the `fdatasync`s and the log
    /// write anywhere, and `finishSync` on the owner takes the outcome. The owner goes on
    /// writing meanwhile; what it writes after `beginSync` belongs to the next sync. One runs
    /// at a time: every other durable operation (a promise, an install, a FUA write, a volume
    /// change, `sync()`) first waits for the running one, so log batches reach the file in
    /// order and no file a job syncs is closed under it.
    public final class SyncJob: Sendable {
        let dataFiles: [(fd: Int32, path: String)]
        let batch: WriteAheadLog.Batch?
        private let outcome = JobOutcome()

        init(dataFiles: [(fd: Int32, path: String)], batch: WriteAheadLog.Batch?) {
            self.dataFiles = dataFiles
            self.batch = batch
        }

        /// The volume files first, then the log: a log record never names data a crash could
        /// lose. Callable from any thread, once.
        public func run() {
            var error: StorageError? = nil
            for file in dataFiles where error == nil {
                let r = StorageIO.syncData(file.fd)
                if r != 0 { error = .os("cannot sync", path: file.path, code: r) }
            }
            if error == nil, let batch { error = batch.write() }
            outcome.finish(error)
        }

        /// Blocks until `run` has finished; the error it met, if any.
        func waitUntilRun() -> StorageError? { outcome.wait() }
    }

    /// How a job run once on another thread ended (`SyncJob`, `WriteJob`): set by the job,
    /// waited for by the owner.
    final class JobOutcome: Sendable {
        private let state = Mutex<(done: Bool, error: StorageError?)>((false, nil))
        /// Signalled once the job is done; every waiter passes the signal on.
        private let done = DispatchSemaphore(value: 0)

        func finish(_ error: StorageError?) {
            state.withLock { $0 = (true, error) }
            done.signal()
        }

        var isDone: Bool { state.withLock { $0.done } }

        /// Blocks until the job has finished; the error it met, if any.
        func wait() -> StorageError? {
            done.wait()
            done.signal()
            return state.withLock { $0.error }
        }
    }

    /// Takes what a sync must make durable now; nil if nothing was written since the last one
    /// (then everything stored is durable already). The caller MUST `run` the job and give it
    /// to `finishSync`, and MUST NOT begin another before that.
    public func beginSync() throws(StorageError) -> SyncJob? {
        precondition(running == nil, "a sync began while another runs")
        // The positions it logs must name stored data.
        if hasWritesBehind { try drainWrites() }
        guard failure == nil, !isClosed,
            !dirtyFiles.isEmpty || !unloggedPositions.isEmpty || !unloggedRecent.isEmpty || !wal.isEmpty
        else { return nil }
        let files = dirtyFiles.map { file in
            file.dirty = false
            return (fd: file.fd, path: file.path)
        }
        dirtyFiles.removeAll(keepingCapacity: true)
        for slot in unloggedPositions.keys.sorted() { wal.append(.install(slot, unloggedPositions[slot]!)) }
        unloggedPositions.removeAll(keepingCapacity: true)
        for slot in unloggedRecent.keys.sorted() {
            let refs = state.recent[slot] ?? []
            let new = unloggedRecent[slot]!
            wal.append(.recentWrites(slot, replace: new >= refs.count, new >= refs.count ? refs : Array(refs.suffix(new))))
        }
        unloggedRecent.removeAll(keepingCapacity: true)
        let job = SyncJob(dataFiles: files, batch: wal.takeBatch())
        running = job
        return job
    }

    /// Takes a run job's outcome: an error fails the store (after a failed `fdatasync` the
    /// kernel may have dropped the pages, so nothing written before can be vouched for).
    /// Idempotent: a job another operation already waited for is finished.
    public func finishSync(_ job: SyncJob) throws(StorageError) {
        guard running === job else { return }
        running = nil
        if let error = job.waitUntilRun() { throw fail(error) }
        if var batch = job.batch {
            wal.give(back: &batch)
            stats.syncs += 1
        }
    }

    /// Writes a checkpoint if the log has grown enough since the last (a sync first, on the
    /// owner's thread: rare, once per `Limits.checkpointAfterBytes` of log).
    public func checkpointIfDue() throws(StorageError) {
        if wal.checkpointDue(afterBytes: limits.checkpointAfterBytes) { try sync(checkpointIfDue: true) }
    }

    /// Waits for the sync that runs off the owner's thread, if any, and takes its outcome.
    func finishRunningSync() throws(StorageError) {
        if let running { try finishSync(running) }
    }

    /// Writes the whole state as the first record of a new log segment and removes the older
    /// segments. Only right after a sync: the checkpoint states positions whose data must be
    /// durable, and records still in memory would be lost with the old segment.
    func checkpoint() throws(StorageError) {
        precondition(running == nil && dirtyFiles.isEmpty && wal.isEmpty, "checkpoint before sync")
        do throws(StorageError) { try wal.startSegment(checkpoint: state) } catch { throw fail(error) }
        stats.checkpoints += 1
    }

    /// Syncs, marks the log as cleanly closed and releases the files. A caller that must know
    /// whether the last writes are durable calls `sync()` first (it throws; `close` cannot,
    /// since the files are released either way). Idempotent.
    public func close() {
        guard !isClosed else { return }
        defer { releaseResources() }
        if let running { _ = running.waitUntilRun() }
        if failure == nil {
            wal.append(.closed)
            try? sync(checkpointIfDue: false)
        }
    }

    /// A crash as far as this store can make one: records not yet written are dropped, files
    /// are closed without a sync. (Data already handed to the page cache stays, as after kill -9.)
    func simulateCrash() {
        guard !isClosed else { return }
        // A sync begun and not run is dropped as a crash drops it (no thread may be running it).
        wal.abandon()
        releaseResources()
    }

    private func releaseResources() {
        waitForWritesInFlight()
        wal.abandon()
        for file in files.values where file.fd >= 0 {
            StorageIO.closeFile(file.fd)
            file.fd = -1
        }
        dirtyFiles.removeAll()
        StorageIO.closeFile(lockFD)
        isClosed = true
    }

    // MARK: Internals

    /// The store is open and has not failed, and every write queued before is stored
    /// (`drainWrites`): whatever the caller does next sees them.
    @inline(__always)
    func checkUsable() throws(StorageError) {
        try checkOpen()
        if hasWritesBehind { try drainWrites() }
    }

    @inline(__always)
    func checkOpen() throws(StorageError) {
        if let failure {
            throw StorageError(
                .failedEarlier, "the store stopped after an earlier failure (\(failure.message))",
                path: failure.path, errno: failure.errno)
        }
        if isClosed { throw StorageError(.closed, "the store is closed", path: directory) }
    }

    /// Remembers a failure that leaves the files in an unknown state; everything fails after it.
    func fail(_ error: StorageError) -> StorageError {
        failure = error
        return error
    }

    func volumeFile(_ name: VolumeName) throws(StorageError) -> VolumeFile {
        guard let file = files[name] else { throw StorageError(.unknownVolume, "no volume \(name)") }
        return file
    }

    /// The file and the byte offset in it of a range of a block, checked against the volume.
    @inline(__always)
    func locate(_ key: BlockKey, offsetInBlock: UInt32, length: UInt32) throws(StorageError) -> (VolumeFile, UInt64) {
        guard let file = files[key.volume] else { throw StorageError(.unknownVolume, "no volume \(key.volume)") }
        let block = key.block.index
        guard block < file.blockCount, UInt64(offsetInBlock) + UInt64(length) <= file.blockBytes(block) else {
            throw StorageError(
                .invalidArgument,
                "\(length) bytes at \(offsetInBlock) do not fit block \(key) "
                    + "(\(file.blockCount) blocks of \(file.blockSizeBytes) bytes, \(file.sizeBytes) in all)")
        }
        return (file, block * file.blockSizeBytes + UInt64(offsetInBlock))
    }

    @inline(__always)
    func markDirty(_ file: VolumeFile) {
        if !file.dirty {
            file.dirty = true
            dirtyFiles.append(file)
        }
    }

    @inline(__always)
    func logWrite(
        _ file: VolumeFile, _ key: BlockKey, _ position: LogPosition, offsetInBlock: UInt32, length: UInt32, zero: Bool,
        durable: Bool, id: RequestID?
    ) throws(StorageError) {
        let slot = SlotKey(volumeID: file.id, block: key.block.index)
        state.positions[slot] = position
        // The position is logged at the next sync, once per block however many writes it had:
        // the data is in place, and the log must not name a position before its data is durable.
        unloggedPositions[slot] = position
        // A node whose blocks only its own clients write (a one-node cluster) keeps no ids.
        if id != nil || !state.recent.isEmpty { noteRecent(slot, id, at: position) }
        stats.writes += 1
        if durable { try sync() }
    }

    /// A write at `position` replaced the copy's entries from its version on, and their ids
    /// with them; `id`, another node's write, joins the block's recent writes. Logged at the
    /// next sync with the position (`beginSync`), so the ids recovered after a crash are those
    /// of the writes the recovered position covers.
    func noteRecent(_ slot: SlotKey, _ id: RequestID?, at position: LogPosition) {
        var refs = state.recent.removeValue(forKey: slot) ?? []
        var new = unloggedRecent[slot] ?? 0
        if let last = refs.last, last.position.version >= position.version {
            refs.removeAll { $0.position.version >= position.version }
            new = Int.max
        }
        if let id {
            refs.append(WriteRef(id: id, position: position))
            if refs.count > WriteRef.keptPerBlock { refs.removeFirst(refs.count - WriteRef.keptPerBlock) }
            if new != Int.max { new += 1 }
        }
        if !refs.isEmpty { state.recent[slot] = refs }
        if new > 0 { unloggedRecent[slot] = new }
    }

    /// Zeroes `length` bytes at `at`: whole 4 KiB pages are punched out (they read as zero and
    /// free their space), the unaligned edges are written. Returns 0 or errno.
    func zeroRange(_ fd: Int32, at start: UInt64, length: UInt64) -> Int32 {
        let page: UInt64 = 4096
        let end = start + length
        let alignedStart = (start + page - 1) & ~(page - 1)
        let alignedEnd = end & ~(page - 1)
        if punchHoleSupported, let fallocate = StorageIO.fallocate, alignedStart < alignedEnd {
            let head = writeZeroes(fd, at: start, length: alignedStart - start)
            if head != 0 { return head }
            let mode = StorageIO.fallocKeepSize | StorageIO.fallocPunchHole
            if fallocate(fd, mode, Int64(alignedStart), Int64(alignedEnd - alignedStart)) == 0 {
                return writeZeroes(fd, at: alignedEnd, length: end - alignedEnd)
            }
            let e = lastErrno()
            if e != EOPNOTSUPP && e != ENOSYS { return e }
            punchHoleSupported = false  // This file system cannot; write zeroes from now on.
        }
        return writeZeroes(fd, at: start, length: length)
    }

    func writeZeroes(_ fd: Int32, at start: UInt64, length: UInt64) -> Int32 {
        var done: UInt64 = 0
        while done < length {
            let n = min(UInt64(zeroes.count), length - done)
            let r = StorageIO.pwriteAll(fd, UnsafeRawBufferPointer(rebasing: zeroes[0..<Int(n)]), at: start + done)
            if r != 0 { return r }
            done += n
        }
        return 0
    }
}

/// A `BlockStore` belongs to one owner (it is not thread-safe); the compiler keeps it there.
@available(*, unavailable)
extension BlockStore: Sendable {}
