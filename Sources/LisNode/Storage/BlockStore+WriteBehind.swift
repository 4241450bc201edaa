import LisCore
import NIOCore

extension BlockStore {
    // MARK: Writes stored off the owner's thread

    /// Client writes whose `pwrite`s run on another thread while the owner goes on serving:
    /// on a loaded node the event loop decodes and orders the next commands while the kernel
    /// copies the last ones into the page cache. The owner queues writes (`queueWrite`: the
    /// bookkeeping — the block's position, the dirty file — is done at once, on its thread),
    /// hands them over as one job (`takeQueuedWrites`), runs the job elsewhere (`WriteJob.run`)
    /// and takes the outcome back (`reapWrites`). Whatever else the store is asked first waits
    /// until every queued write is stored (`checkUsable` drains them): a read sees every write
    /// before it, a sync covers every position it logs, a volume file is never closed under a
    /// `pwrite`. Jobs run one at a time, in order, on one thread: two writes to one block land
    /// in the order they were queued.
    public final class WriteJob: Sendable {
        struct Item: Sendable {
            let fd: Int32
            let at: UInt64
            let path: String
            let data: ByteBuffer
        }
        let id: UInt64
        let items: [Item]
        private let outcome = JobOutcome()

        init(id: UInt64, items: [Item]) {
            self.id = id
            self.items = items
        }

        /// Stores every item, in order, stopping at the first failure. Callable from any
        /// thread, once.
        public func run() {
            var error: StorageError? = nil
            for item in items {
                let r = item.data.withUnsafeReadableBytes { StorageIO.pwriteAll(item.fd, $0, at: item.at) }
                if r != 0 {
                    error = .os("cannot write \(item.data.readableBytes) bytes at \(item.at) to", path: item.path, code: r)
                    break
                }
            }
            outcome.finish(error)
        }

        var isDone: Bool { outcome.isDone }

        /// Blocks until `run` has finished; the error it met, if any.
        func waitUntilRun() -> StorageError? { outcome.wait() }
    }

    /// Writes queued or handed over and not yet known to be stored.
    public var hasWritesBehind: Bool { !writesQueued.isEmpty || !writesInFlight.isEmpty }

    /// Every write queued up to this job id is stored (ids count from 1).
    public var writesStoredThrough: UInt64 { writesDoneThrough }

    /// The job that stores the newest write queued: stored once `writesStoredThrough` reaches it.
    public var newestWriteJob: UInt64 { writesQueued.isEmpty ? nextWriteJob - 1 : nextWriteJob }

    /// Queues `data` for `offsetInBlock` of the block at `position`, to be stored by the next
    /// job (`takeQueuedWrites`); returns that job's id. Like `write` without `durable`: the
    /// position is recorded now and logged at the next sync, which waits for the job.
    public func queueWrite(_ key: BlockKey, offsetInBlock: UInt32, data: ByteBuffer, at position: LogPosition) throws(StorageError)
        -> UInt64
    {
        try checkOpen()
        guard data.readableBytes <= Int(UInt32.max) else {
            throw StorageError(.invalidArgument, "write to \(key) of \(data.readableBytes) bytes is larger than a block can be")
        }
        let length = UInt32(data.readableBytes)
        let (file, at) = try locate(key, offsetInBlock: offsetInBlock, length: length)
        if length > 0 {
            writesQueued.append(WriteJob.Item(fd: file.fd, at: at, path: file.path, data: data))
            markDirty(file)
        }
        try logWrite(file, key, position, offsetInBlock: offsetInBlock, length: length, zero: false, durable: false, id: nil)
        return nextWriteJob
    }

    /// The writes queued since the last call, as one job the caller MUST `run` (on any
    /// thread) and then give to `reapWrites`; nil if none were queued.
    public func takeQueuedWrites() -> WriteJob? {
        guard !writesQueued.isEmpty else { return nil }
        let job = WriteJob(id: nextWriteJob, items: writesQueued)
        writesQueued.removeAll(keepingCapacity: true)
        nextWriteJob += 1
        writesInFlight.append(job)
        return job
    }

    /// Takes the outcome of the jobs that have run, oldest first, and stops at one still
    /// running. A failed write fails the store: a write answered as stored is not.
    public func reapWrites() throws(StorageError) {
        while let job = writesInFlight.first, job.isDone {
            writesInFlight.removeFirst()
            if let error = job.waitUntilRun() { throw fail(error) }
            writesDoneThrough = job.id
        }
    }

    /// Waits for every job handed over, then stores what is still queued on this thread.
    func drainWrites() throws(StorageError) {
        while let job = writesInFlight.first {
            writesInFlight.removeFirst()
            if let error = job.waitUntilRun() { throw fail(error) }
            writesDoneThrough = job.id
        }
        guard let job = takeQueuedWrites() else { return }
        writesInFlight.removeAll()
        job.run()
        if let error = job.waitUntilRun() { throw fail(error) }
        writesDoneThrough = job.id
    }

    /// Before the files are released: no `pwrite` may still run on them.
    func waitForWritesInFlight() {
        for job in writesInFlight { _ = job.waitUntilRun() }
        writesInFlight.removeAll()
        writesQueued.removeAll()
    }
}
