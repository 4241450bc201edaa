import Foundation
import LisCore
import Testing

@testable import LisNode

@Suite("Block store: recovery")
struct StorageRecoveryTests {
    static let volume = VolumeName("disk")

    func makeStore(_ dir: StorageTempDirectory, limits: BlockStore.Limits = .init()) throws -> BlockStore {
        let store = try BlockStore(directory: dir.path, limits: limits)
        try store.createVolume(Self.volume, sizeBytes: 1 << 20, blockSizeBytes: 64 << 10)
        return store
    }

    @Test func reopenAfterSyncRecoversDataPositionsAndPromises() throws {
        let dir = StorageTempDirectory()
        do {
            let store = try makeStore(dir)
            try store.write(blockKey("disk", 0), logPosition(0, 1), at: 0, pattern(4096, seed: 1))
            try store.write(blockKey("disk", 0), logPosition(0, 2), at: 4096, pattern(4096, seed: 2))
            try store.write(blockKey("disk", 15), logPosition(1, 7), at: 100, pattern(10, seed: 3))
            try store.promise(blockKey("disk", 3), Epoch(2))
            try store.install(blockKey("disk", 4), image: pattern(64 << 10, seed: 4), upTo: logPosition(2, 9))
            try store.sync()
            store.simulateCrash()
        }
        let store = try BlockStore(directory: dir.path)
        let r = store.recovered
        #expect(r.volumes == [Self.volume: VolumeGeometry(sizeBytes: 1 << 20, blockSizeBytes: 64 << 10)])
        #expect(
            r.positions == [
                blockKey("disk", 0): logPosition(0, 2), blockKey("disk", 15): logPosition(1, 7),
                blockKey("disk", 4): logPosition(2, 9),
            ])
        #expect(r.promises == [blockKey("disk", 3): Epoch(2)])
        #expect(!r.cleanShutdown)
        #expect(r.droppedTailBytes == 0)
        // Volume, promise, install, and one position per written block (block 0's two writes
        // are logged once, at the sync).
        #expect(r.records == 5)
        #expect(store.position(blockKey("disk", 4)) == logPosition(2, 9))
        #expect(store.promised(blockKey("disk", 3)) == Epoch(2))
        #expect(try store.read(blockKey("disk", 0), offsetInBlock: 4096, length: 4096) == pattern(4096, seed: 2))
        #expect(try store.exportImage(blockKey("disk", 4)) == pattern(64 << 10, seed: 4))
        store.close()
        let again = try BlockStore(directory: dir.path)
        #expect(again.recovered.cleanShutdown)
        #expect(again.recovered.positions == r.positions)
        again.close()
    }

    /// A sync whose system calls run off the owner's thread (`beginSync`, `run`, `finishSync`:
    /// how the node serves an NBD FLUSH without stalling other I/O) makes durable what was
    /// written before it began, and nothing after.
    @Test func aSyncOffTheOwnersThreadCoversWhatCameBeforeItBegan() throws {
        let dir = StorageTempDirectory()
        do {
            let store = try makeStore(dir)
            try store.write(blockKey("disk", 0), logPosition(0, 1), at: 0, pattern(4096, seed: 1))
            let job = try #require(try store.beginSync())
            try store.write(blockKey("disk", 1), logPosition(0, 2), at: 0, pattern(4096, seed: 2))  // while it runs
            Thread { job.run() }.start()
            try store.finishSync(job)
            let next = try #require(try store.beginSync(), "block 1 waits for the next sync")
            #expect(next.dataFiles.count == 1)
            store.simulateCrash()  // before that one ran
        }
        let store = try BlockStore(directory: dir.path)
        #expect(store.recovered.positions == [blockKey("disk", 0): logPosition(0, 1)])
        #expect(store.recovered.droppedTailBytes == 0)
        #expect(try store.read(blockKey("disk", 0), offsetInBlock: 0, length: 4096) == pattern(4096, seed: 1))
        store.close()
    }

    /// A durable operation made while a sync runs off the owner's thread (here a promise) waits
    /// for it, so log batches reach the file in order and neither is lost.
    @Test func aPromiseWaitsForTheRunningSync() throws {
        let dir = StorageTempDirectory()
        do {
            let store = try makeStore(dir)
            try store.write(blockKey("disk", 2), logPosition(0, 3), at: 0, pattern(4096, seed: 3))
            let job = try #require(try store.beginSync())
            Thread {
                Thread.sleep(forTimeInterval: 0.05)
                job.run()
            }.start()
            try store.promise(blockKey("disk", 3), Epoch(4))
            try store.finishSync(job)  // finished by the promise's wait: nothing left to do
            #expect(try store.beginSync() == nil, "nothing was written since")
            try store.write(blockKey("disk", 5), logPosition(0, 9), at: 0, pattern(4096, seed: 5))  // never synced
            store.simulateCrash()
        }
        let store = try BlockStore(directory: dir.path)
        #expect(store.recovered.positions == [blockKey("disk", 2): logPosition(0, 3)])
        #expect(store.recovered.promises == [blockKey("disk", 3): Epoch(4)])
        #expect(store.recovered.droppedTailBytes == 0)
        store.close()
    }

    @Test func reopenWithoutSyncOpensWithOlderPositions() throws {
        let dir = StorageTempDirectory()
        do {
            let store = try makeStore(dir)
            try store.write(blockKey("disk", 1), logPosition(0, 1), at: 0, pattern(4096, seed: 1))
            try store.sync()
            try store.write(blockKey("disk", 1), logPosition(0, 2), at: 0, pattern(4096, seed: 2))
            try store.write(blockKey("disk", 2), logPosition(0, 1), at: 0, pattern(4096, seed: 3))
            store.simulateCrash()
        }
        let store = try BlockStore(directory: dir.path)
        // The log lost the unsynced records; the page cache kept the data ("or more").
        #expect(store.recovered.positions == [blockKey("disk", 1): logPosition(0, 1)])
        #expect(store.recovered.droppedTailBytes == 0)
        #expect(try store.read(blockKey("disk", 1), offsetInBlock: 0, length: 4096) == pattern(4096, seed: 2))
        store.close()
    }

    @Test func durableWritesAndPromisesSurviveWithoutSync() throws {
        let dir = StorageTempDirectory()
        do {
            let store = try makeStore(dir)
            try store.write(blockKey("disk", 1), logPosition(0, 1), at: 0, [1])
            try store.write(blockKey("disk", 2), logPosition(0, 1), at: 0, [2], durable: true)
            try store.promise(blockKey("disk", 3), Epoch(5))
            try store.write(blockKey("disk", 4), logPosition(0, 1), at: 0, [4])
            store.simulateCrash()
        }
        let store = try BlockStore(directory: dir.path)
        // A durable write makes everything before it durable too.
        #expect(
            store.recovered.positions == [
                blockKey("disk", 1): logPosition(0, 1), blockKey("disk", 2): logPosition(0, 1),
            ])
        #expect(store.recovered.promises == [blockKey("disk", 3): Epoch(5)])
        store.close()
    }

    @Test func positionsReachTheLogOnlyWithTheirData() throws {
        let dir = StorageTempDirectory()
        do {
            let store = try makeStore(dir)
            try store.write(blockKey("disk", 1), logPosition(0, 1), at: 0, [1])
            try store.sync()
            let syncs = store.stats.syncs
            // Many writes without a flush: nothing forces a sync, and nothing is logged for them.
            for v in 2...2000 as ClosedRange<UInt64> {
                try store.write(blockKey("disk", v % 16), logPosition(0, v), at: 0, [UInt8(truncatingIfNeeded: v)])
            }
            #expect(store.stats.syncs == syncs)
            store.simulateCrash()
        }
        let store = try BlockStore(directory: dir.path)
        // The log names only the flushed position; the data (kept by the page cache) is newer.
        #expect(store.recovered.positions == [blockKey("disk", 1): logPosition(0, 1)])
        #expect(try store.read(blockKey("disk", 1), offsetInBlock: 0, length: 1) == [UInt8(truncatingIfNeeded: 1985)])
        store.close()
    }

    @Test func tornTailOfGarbageIsDropped() throws {
        let dir = StorageTempDirectory()
        do {
            let store = try makeStore(dir)
            try store.write(blockKey("disk", 1), logPosition(0, 1), at: 0, [1], durable: true)
            store.simulateCrash()
        }
        let segment = try #require(try dir.segments().last)
        try StorageTempDirectory.append(segment, [0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 0, 0, 7, 7, 7, 7, 7])
        let store = try BlockStore(directory: dir.path)
        #expect(store.recovered.droppedTailBytes == 13)
        #expect(store.recovered.positions == [blockKey("disk", 1): logPosition(0, 1)])
        // The cut is durable and the log goes on from it.
        try store.write(blockKey("disk", 2), logPosition(0, 1), at: 0, [2], durable: true)
        store.close()
        let again = try BlockStore(directory: dir.path)
        #expect(again.recovered.droppedTailBytes == 0)
        #expect(again.recovered.positions.count == 2)
        again.close()
    }

    @Test func aTruncatedOrDamagedLastBatchIsDroppedWhole() throws {
        for damage in ["truncate", "flip"] {
            let dir = StorageTempDirectory()
            var lastBatchStart = 0
            var end = 0
            do {
                let store = try makeStore(dir)
                try store.write(blockKey("disk", 1), logPosition(0, 1), at: 0, [1], durable: true)
                lastBatchStart = Int(store.wal.segmentBytes)
                try store.write(blockKey("disk", 2), logPosition(0, 1), at: 0, [2])
                try store.promise(blockKey("disk", 2), Epoch(1))
                end = Int(store.wal.segmentBytes)
                store.simulateCrash()
            }
            let segment = try #require(try dir.segments().last)
            if damage == "truncate" {
                try StorageTempDirectory.truncate(segment, to: end - 5)
            } else {
                try StorageTempDirectory.flipBit(segment, at: end - 3)
            }
            let store = try BlockStore(directory: dir.path)
            let kept = damage == "truncate" ? end - 5 : end
            #expect(store.recovered.droppedTailBytes == kept - lastBatchStart, "\(damage)")
            #expect(store.recovered.positions == [blockKey("disk", 1): logPosition(0, 1)], "\(damage)")
            #expect(store.recovered.promises.isEmpty, "\(damage)")
            #expect(try StorageTempDirectory.size(segment) == lastBatchStart)
            store.close()
        }
    }

    @Test func damageBeforeTheLastBatchIsRefused() throws {
        let dir = StorageTempDirectory()
        var middle = 0
        do {
            let store = try makeStore(dir)
            middle = Int(store.wal.segmentBytes)
            try store.write(blockKey("disk", 1), logPosition(0, 1), at: 0, [1], durable: true)
            try store.write(blockKey("disk", 2), logPosition(0, 1), at: 0, [2], durable: true)
            store.close()
        }
        let segment = try #require(try dir.segments().last)
        // Inside the write record that follows the second batch's header.
        try StorageTempDirectory.flipBit(segment, at: middle + WALRecord.batchRecordBytes + 12)
        let before = try StorageTempDirectory.size(segment)
        let error = #expect(throws: StorageError.self) { _ = try BlockStore(directory: dir.path) }
        #expect(error?.kind == .corruptLog)
        #expect(error?.path == segment)
        #expect(error?.offset == UInt64(middle + WALRecord.batchRecordBytes))
        #expect(error?.description.contains(segment) == true)
        // Refusing leaves the evidence alone.
        #expect(try StorageTempDirectory.size(segment) == before)
    }

    @Test func aDamagedBatchHeaderFollowedByLaterBatchesIsRefused() throws {
        let dir = StorageTempDirectory()
        var middle = 0
        do {
            let store = try makeStore(dir)
            try store.write(blockKey("disk", 1), logPosition(0, 1), at: 0, [1], durable: true)
            middle = Int(store.wal.segmentBytes)
            try store.write(blockKey("disk", 2), logPosition(0, 1), at: 0, [2], durable: true)
            try store.write(blockKey("disk", 3), logPosition(0, 1), at: 0, [3], durable: true)
            store.simulateCrash()
        }
        let segment = try #require(try dir.segments().last)
        try StorageTempDirectory.flipBit(segment, at: middle + 1)  // the batch's length field
        let error = #expect(throws: StorageError.self) { _ = try BlockStore(directory: dir.path) }
        #expect(error?.kind == .corruptLog)
        #expect(error?.offset == UInt64(middle))
    }

    @Test func damageInAnEarlierSegmentIsRefused() throws {
        let dir = StorageTempDirectory()
        let saved = dir.path + "-saved"
        defer { try? FileManager.default.removeItem(atPath: saved) }
        try FileManager.default.createDirectory(atPath: saved, withIntermediateDirectories: true)
        let first = dir.wal + "/0000000000000001.log"
        let second = dir.wal + "/0000000000000002.log"
        var middle = 0
        do {
            let store = try makeStore(dir)
            try store.write(blockKey("disk", 1), logPosition(0, 1), at: 0, [1], durable: true)
            middle = Int(store.wal.segmentBytes)
            try store.write(blockKey("disk", 2), logPosition(0, 1), at: 0, [2], durable: true)
            try store.write(blockKey("disk", 3), logPosition(0, 1), at: 0, [3], durable: true)
            try FileManager.default.copyItem(atPath: first, toPath: saved + "/1")
            try store.checkpoint()
            #expect(try dir.segments() == [second])
            try store.write(blockKey("disk", 4), logPosition(0, 1), at: 0, [4], durable: true)
            store.simulateCrash()
        }
        try FileManager.default.copyItem(atPath: second, toPath: saved + "/2")
        // A crash between a checkpoint and the removal of the old segment leaves it behind.
        // Intact, it replays (the checkpoint then replaces its state) and is folded away.
        try FileManager.default.copyItem(atPath: saved + "/1", toPath: first)
        do {
            let store = try BlockStore(directory: dir.path)
            #expect(store.recovered.segments == 2)
            #expect(store.recovered.positions.count == 4)
            #expect(try dir.segments() == [dir.wal + "/0000000000000003.log"])
            store.close()
        }
        // Damaged, it is refused even though the checkpoint after it would replace its state:
        // the disk under the log is not to be trusted.
        for segment in try dir.segments() { try FileManager.default.removeItem(atPath: segment) }
        try FileManager.default.copyItem(atPath: saved + "/1", toPath: first)
        try FileManager.default.copyItem(atPath: saved + "/2", toPath: second)
        try StorageTempDirectory.flipBit(first, at: middle + WALRecord.batchRecordBytes + 12)
        let error = #expect(throws: StorageError.self) { _ = try BlockStore(directory: dir.path) }
        #expect(error?.kind == .corruptLog)
        #expect(error?.path == first)
        #expect(error?.offset == UInt64(middle + WALRecord.batchRecordBytes))
    }

    @Test func aMissingSegmentIsRefused() throws {
        let dir = StorageTempDirectory()
        do {
            let store = try makeStore(dir)
            try store.checkpoint()
            try store.checkpoint()
            store.simulateCrash()
        }
        // Segments 1 and 2 were removed by the checkpoints; fake a leftover 1 next to 3.
        #expect(FileManager.default.createFile(atPath: dir.wal + "/0000000000000001.log", contents: Data()))
        let error = #expect(throws: StorageError.self) { _ = try BlockStore(directory: dir.path) }
        #expect(error?.kind == .corruptLog)
        #expect(error?.message.contains("0000000000000002.log") == true)
    }

    /// Checkpoints keep the log bounded, and recovery through them is exact.
    @Test func checkpointsBoundTheLogAndRecoveryStaysExact() throws {
        let dir = StorageTempDirectory()
        var positions: [BlockKey: LogPosition] = [:]
        var promises: [BlockKey: Epoch] = [:]
        var contents: [BlockKey: UInt8] = [:]
        var largestLog = 0
        var rng = SeededRandom(seed: 11)
        let threshold: UInt64 = 8 << 10
        do {
            let store = try makeStore(dir, limits: .init(checkpointAfterBytes: threshold))
            for version in 1...3000 as ClosedRange<UInt64> {
                let key = blockKey("disk", UInt64.random(in: 0..<16, using: &rng))
                let epoch = UInt64(version / 500)
                let byte = UInt8(truncatingIfNeeded: version)
                try store.write(key, logPosition(epoch, version), at: 0, [byte])
                positions[key] = logPosition(epoch, version)
                contents[key] = byte
                if version % 97 == 0 {
                    try store.promise(key, Epoch(epoch + 1))
                    promises[key] = Epoch(epoch + 1)
                }
                if version % 10 == 0 {
                    try store.sync()
                    largestLog = max(largestLog, try dir.walBytes())
                }
            }
            try store.sync()
            #expect(store.stats.checkpoints > 5)
            store.simulateCrash()
        }
        // Bounded: the threshold, plus one checkpoint and one batch.
        #expect(largestLog < Int(threshold) * 2)
        #expect(try dir.segments().count == 1)
        let store = try BlockStore(directory: dir.path)
        #expect(store.recovered.positions == positions)
        #expect(store.recovered.promises == promises)
        for (key, byte) in contents {
            #expect(try store.read(key, offsetInBlock: 0, length: 1) == [byte])
        }
        store.close()
    }
}
