import Dispatch
import LisCore
import NIOCore
import Testing

@testable import LisNode

/// Writes stored off the owner's thread (`BlockStore.queueWrite`, how the node stores a pass
/// of client writes while its event loop serves on): whatever the store does next waits for
/// them, and two writes to one place land in the order they were queued.
@Suite("Block store: writes behind")
struct StorageWriteBehindTests {
    static let volume = VolumeName("disk")

    func makeStore(_ dir: StorageTempDirectory) throws -> BlockStore {
        let store = try BlockStore(directory: dir.path)
        try store.createVolume(Self.volume, sizeBytes: 1 << 20, blockSizeBytes: 64 << 10)
        return store
    }

    /// Runs a job on another thread, as the node's write thread does.
    func runElsewhere(_ job: BlockStore.WriteJob) {
        DispatchQueue.global().async { job.run() }
    }

    @Test func readsAndSyncsWaitForWritesBehindAndSeeTheLastOne() throws {
        let dir = StorageTempDirectory()
        do {
            let store = try makeStore(dir)
            // Three writes to one place, then one to another block, in one job.
            for (version, seed) in [(1, 1), (2, 2), (3, 3)] {
                let id = try store.queueWrite(
                    blockKey("disk", 0), offsetInBlock: 4096, data: ByteBuffer(bytes: pattern(4096, seed: UInt8(seed))),
                    at: logPosition(0, UInt64(version)))
                #expect(id == 1)
            }
            _ = try store.queueWrite(blockKey("disk", 1), offsetInBlock: 0, data: ByteBuffer(bytes: pattern(100, seed: 9)), at: logPosition(0, 1))
            #expect(store.hasWritesBehind)
            #expect(store.newestWriteJob == 1)
            let job = try #require(store.takeQueuedWrites())
            #expect(store.takeQueuedWrites() == nil, "nothing queued since")
            #expect(store.newestWriteJob == 1 && store.writesStoredThrough == 0)
            runElsewhere(job)
            // The read waits for the job, whenever it runs.
            #expect(try store.read(blockKey("disk", 0), offsetInBlock: 4096, length: 4096) == pattern(4096, seed: 3))
            #expect(!store.hasWritesBehind)
            #expect(store.writesStoredThrough == 1)

            // Queued and never handed over: the owner stores it itself before it reads.
            _ = try store.queueWrite(blockKey("disk", 2), offsetInBlock: 0, data: ByteBuffer(bytes: pattern(4096, seed: 4)), at: logPosition(0, 1))
            #expect(try store.read(blockKey("disk", 2), offsetInBlock: 0, length: 4096) == pattern(4096, seed: 4))
            #expect(store.writesStoredThrough == 2)

            // A job reaped after it ran; then one still running when a sync begins.
            _ = try store.queueWrite(blockKey("disk", 3), offsetInBlock: 0, data: ByteBuffer(bytes: pattern(4096, seed: 5)), at: logPosition(0, 1))
            let third = try #require(store.takeQueuedWrites())
            third.run()
            try store.reapWrites()
            #expect(store.writesStoredThrough == 3 && !store.hasWritesBehind)
            _ = try store.queueWrite(blockKey("disk", 4), offsetInBlock: 0, data: ByteBuffer(bytes: pattern(4096, seed: 6)), at: logPosition(1, 2))
            runElsewhere(try #require(store.takeQueuedWrites()))
            let sync = try #require(try store.beginSync(), "the sync takes the write behind, stored first")
            sync.run()
            try store.finishSync(sync)
            #expect(store.writesStoredThrough == 4)
            store.simulateCrash()
        }
        let store = try BlockStore(directory: dir.path)
        #expect(
            store.recovered.positions == [
                blockKey("disk", 0): logPosition(0, 3), blockKey("disk", 1): logPosition(0, 1), blockKey("disk", 2): logPosition(0, 1),
                blockKey("disk", 3): logPosition(0, 1), blockKey("disk", 4): logPosition(1, 2),
            ])
        #expect(try store.read(blockKey("disk", 0), offsetInBlock: 4096, length: 4096) == pattern(4096, seed: 3))
        #expect(try store.read(blockKey("disk", 1), offsetInBlock: 0, length: 100) == pattern(100, seed: 9))
        #expect(try store.read(blockKey("disk", 4), offsetInBlock: 0, length: 4096) == pattern(4096, seed: 6))
        store.close()
    }

    /// A write that fails on the write thread fails the store when its outcome is taken: it
    /// was never answered as stored, and nothing after it is.
    @Test func aFailedWriteBehindFailsTheStore() throws {
        let dir = StorageTempDirectory()
        let store = try makeStore(dir)
        _ = try store.queueWrite(blockKey("disk", 0), offsetInBlock: 0, data: ByteBuffer(bytes: pattern(4096, seed: 1)), at: logPosition(0, 1))
        let job = try #require(store.takeQueuedWrites())
        // The volume file's descriptor goes away under the queued write: its pwrite fails (EBADF).
        let file = try #require(store.files[Self.volume])
        StorageIO.closeFile(file.fd)
        file.fd = -1
        job.run()
        #expect(throws: StorageError.self) { try store.reapWrites() }
        #expect(store.writesStoredThrough == 0)
        #expect(throws: StorageError.self) { _ = try store.read(blockKey("disk", 1), offsetInBlock: 0, length: 10) }
        store.close()
    }

    @Test func aWriteBehindOutsideItsBlockIsRefusedAndLeavesNothingQueued() throws {
        let dir = StorageTempDirectory()
        let store = try makeStore(dir)
        #expect(throws: StorageError.self) {
            _ = try store.queueWrite(blockKey("disk", 0), offsetInBlock: 60 << 10, data: ByteBuffer(bytes: pattern(8192, seed: 1)), at: logPosition(0, 1))
        }
        #expect(!store.hasWritesBehind)
        #expect(throws: StorageError.self) {
            _ = try store.queueWrite(blockKey("nope", 0), offsetInBlock: 0, data: ByteBuffer(bytes: pattern(10, seed: 1)), at: logPosition(0, 1))
        }
        #expect(store.takeQueuedWrites() == nil)
        store.close()
    }
}
