import Foundation
import LisCore
import Testing

@testable import LisNode

@Suite("CRC-32C")
struct StorageCRC32CTests {
    @Test func standardVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // RFC 3720 (iSCSI) B.4.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
    }

    @Test func continuingEqualsWhole() {
        let bytes = pattern(1000, seed: 3)
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let first = CRC32C.checksum(Array(bytes[..<split]))
            #expect(CRC32C.checksum(Array(bytes[split...]), continuing: first) == CRC32C.checksum(bytes))
        }
    }
}

@Suite("Block store: reads and writes")
struct StorageReadWriteTests {
    /// 10 pages with 3-page blocks: blocks 0–2 are 12288 bytes, block 3 is a short 4096.
    static let size: UInt64 = 40960
    static let blockSize: UInt64 = 12288

    func makeStore(_ dir: StorageTempDirectory) throws -> BlockStore {
        let store = try BlockStore(directory: dir.path)
        try store.createVolume(VolumeName("vol"), sizeBytes: Self.size, blockSizeBytes: Self.blockSize)
        return store
    }

    @Test func roundTripsAtBlockEdges() throws {
        let dir = StorageTempDirectory()
        let store = try makeStore(dir)
        let head = pattern(100, seed: 1)
        let tail = pattern(50, seed: 2)
        let last = pattern(4096, seed: 3)
        try store.write(blockKey("vol", 0), logPosition(0, 1), at: 0, head)
        try store.write(blockKey("vol", 1), logPosition(0, 1), at: 12288 - 50, tail)
        try store.write(blockKey("vol", 3), logPosition(0, 1), at: 0, last)
        #expect(try store.read(blockKey("vol", 0), offsetInBlock: 0, length: 100) == head)
        #expect(try store.read(blockKey("vol", 1), offsetInBlock: 12288 - 50, length: 50) == tail)
        #expect(try store.read(blockKey("vol", 3), offsetInBlock: 0, length: 4096) == last)
        // Never-written bytes read as zero; a whole block has the writes in place.
        let untouched = try store.read(blockKey("vol", 2), offsetInBlock: 0, length: 12288)
        #expect(untouched == [UInt8](repeating: 0, count: 12288))
        let image = try store.exportImage(blockKey("vol", 1))
        #expect(image.count == 12288)
        #expect(Array(image[(12288 - 50)...]) == tail)
        #expect(image[..<(12288 - 50)].allSatisfy { $0 == 0 })
        #expect(try store.exportImage(blockKey("vol", 3)).count == 4096)
        // Into a caller's buffer (as a NIO ByteBuffer's storage would be).
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 200, alignment: 1)
        defer { buffer.deallocate() }
        try store.read(blockKey("vol", 0), offsetInBlock: 0, length: 100, into: buffer)
        #expect(Array(buffer[0..<100]) == head)
        #expect(store.position(blockKey("vol", 1)) == logPosition(0, 1))
        #expect(store.position(blockKey("vol", 2)) == .empty)
        store.close()
    }

    @Test func refusesRangesOutsideTheVolume() throws {
        let dir = StorageTempDirectory()
        let store = try makeStore(dir)
        let cases: [(BlockKey, UInt32, Int)] = [
            (blockKey("vol", 0), 12288 - 10, 11),  // past the block's end
            (blockKey("vol", 3), 0, 4097),  // past the short last block
            (blockKey("vol", 4), 0, 1),  // past the last block
        ]
        for (key, offset, count) in cases {
            let error = #expect(throws: StorageError.self) {
                try store.write(key, logPosition(0, 1), at: offset, pattern(count, seed: 0))
            }
            #expect(error?.kind == .invalidArgument)
            let readError = #expect(throws: StorageError.self) {
                _ = try store.read(key, offsetInBlock: offset, length: UInt32(count))
            }
            #expect(readError?.kind == .invalidArgument)
        }
        let unknown = #expect(throws: StorageError.self) {
            try store.write(blockKey("nope", 0), logPosition(0, 1), at: 0, [1])
        }
        #expect(unknown?.kind == .unknownVolume)
        let mismatched = #expect(throws: StorageError.self) {
            try store.apply(
                write: BlockWrite(offset: 0, length: 5, data: .bytes([1, 2])), at: logPosition(0, 1),
                to: blockKey("vol", 0), durable: false)
        }
        #expect(mismatched?.kind == .invalidArgument)
        let unresolved = #expect(throws: StorageError.self) {
            try store.apply(
                write: BlockWrite(offset: 0, length: 5, data: .read(blockKey("vol", 1), offset: 0, length: 5)),
                at: logPosition(0, 1), to: blockKey("vol", 0), durable: false)
        }
        #expect(unresolved?.kind == .unresolvedPayload)
        // The refused operations changed nothing.
        #expect(store.position(blockKey("vol", 0)) == .empty)
        store.close()
    }

    @Test func zeroesPunchWholePagesAndWriteTheEdges() throws {
        let dir = StorageTempDirectory()
        let store = try makeStore(dir)
        let key = blockKey("vol", 1)
        let full = [UInt8](repeating: 0xAB, count: 12288)
        try store.install(key, image: full, upTo: logPosition(0, 1))
        let allocatedBefore = try allocatedBytes(dir.volumes + "/vol.img")
        // 100 ..< 10100 of the block: a partial first page, one whole page, a partial third.
        try store.apply(
            write: BlockWrite(offset: 100, length: 10000, data: .zeros), at: logPosition(0, 2), to: key, durable: false)
        let image = try store.exportImage(key)
        #expect(image[..<100].allSatisfy { $0 == 0xAB })
        #expect(image[100..<10100].allSatisfy { $0 == 0 })
        #expect(image[10100...].allSatisfy { $0 == 0xAB })
        #expect(store.position(key) == logPosition(0, 2))
        if store.punchHoleSupported {
            try store.sync()
            #expect(try allocatedBytes(dir.volumes + "/vol.img") < allocatedBefore)
        }
        // Zeroes in an aligned whole block, and a zero-length write, also work.
        try store.writeZeroes(key, offsetInBlock: 0, length: 12288, at: logPosition(0, 3), durable: true)
        try store.writeZeroes(key, offsetInBlock: 5, length: 0, at: logPosition(0, 4), durable: false)
        #expect(try store.exportImage(key) == [UInt8](repeating: 0, count: 12288))
        store.close()
    }

    @Test func refusesBadVolumeNamesAndDuplicates() throws {
        let dir = StorageTempDirectory()
        let store = try BlockStore(directory: dir.path)
        for name in ["", ".hidden", "-x", "a/b", "../up", String(repeating: "n", count: 129)] {
            let error = #expect(throws: StorageError.self) {
                try store.createVolume(VolumeName(name), sizeBytes: 4096, blockSizeBytes: 4096)
            }
            #expect(error?.kind == .invalidVolumeName)
        }
        try store.createVolume(VolumeName("ok"), sizeBytes: 4096, blockSizeBytes: 4096)
        let duplicate = #expect(throws: StorageError.self) {
            try store.createVolume(VolumeName("ok"), sizeBytes: 4096, blockSizeBytes: 4096)
        }
        #expect(duplicate?.kind == .volumeExists)
        let zeroBlock = #expect(throws: StorageError.self) {
            try store.createVolume(VolumeName("z"), sizeBytes: 4096, blockSizeBytes: 0)
        }
        #expect(zeroBlock?.kind == .invalidArgument)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.volumes) == ["ok.img"])
        store.close()
    }

    @Test func aSecondOpenOfTheSameDirectoryIsRefused() throws {
        let dir = StorageTempDirectory()
        let store = try BlockStore(directory: dir.path)
        let error = #expect(throws: StorageError.self) { _ = try BlockStore(directory: dir.path) }
        #expect(error?.kind == .locked)
        store.close()
        let again = try BlockStore(directory: dir.path)
        again.close()
    }

    @Test func aClosedStoreRefusesOperations() throws {
        let dir = StorageTempDirectory()
        let store = try makeStore(dir)
        store.close()
        store.close()  // idempotent
        let error = #expect(throws: StorageError.self) {
            try store.write(blockKey("vol", 0), logPosition(0, 1), at: 0, [1])
        }
        #expect(error?.kind == .closed)
    }

    private func allocatedBytes(_ path: String) throws -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else { throw StorageError.os("stat", path: path) }
        return Int(st.st_blocks) * 512
    }
}

@Suite("Block store: volumes")
struct StorageVolumeTests {
    @Test func resizeGrowsTheFileAndTheShortLastBlock() throws {
        let dir = StorageTempDirectory()
        let name = VolumeName("grow")
        let path = dir.volumes + "/grow.img"
        do {
            let store = try BlockStore(directory: dir.path)
            try store.createVolume(name, sizeBytes: 8192, blockSizeBytes: 12288)
            #expect(try StorageTempDirectory.size(path) == 8192)
            #expect(store.volume(name)?.blockBytes(BlockID(0)) == 8192)
            try store.resizeVolume(name, sizeBytes: 32768)
            #expect(try StorageTempDirectory.size(path) == 32768)
            #expect(store.volume(name) == VolumeGeometry(sizeBytes: 32768, blockSizeBytes: 12288))
            // Block 0 is whole now and block 2 (the new short last block) takes writes.
            try store.write(BlockKey(name, BlockID(0)), logPosition(0, 1), at: 12288 - 4, [1, 2, 3, 4])
            try store.write(BlockKey(name, BlockID(2)), logPosition(0, 1), at: 8192 - 4, [5, 6, 7, 8])
            let shrink = #expect(throws: StorageError.self) { try store.resizeVolume(name, sizeBytes: 4096) }
            #expect(shrink?.kind == .invalidArgument)
            store.close()
        }
        let store = try BlockStore(directory: dir.path)
        #expect(store.recovered.volumes[name] == VolumeGeometry(sizeBytes: 32768, blockSizeBytes: 12288))
        #expect(try store.read(BlockKey(name, BlockID(2)), offsetInBlock: 8192 - 4, length: 4) == [5, 6, 7, 8])
        store.close()
    }

    @Test func deleteRemovesTheFileAndTheBlocksState() throws {
        let dir = StorageTempDirectory()
        let name = VolumeName("gone")
        do {
            let store = try BlockStore(directory: dir.path)
            try store.createVolume(name, sizeBytes: 8192, blockSizeBytes: 4096)
            try store.createVolume(VolumeName("kept"), sizeBytes: 4096, blockSizeBytes: 4096)
            try store.write(BlockKey(name, BlockID(1)), logPosition(2, 5), at: 0, [9, 9])
            try store.promise(BlockKey(name, BlockID(1)), Epoch(3))
            try store.promise(blockKey("kept", 0), Epoch(4))
            try store.deleteVolume(name)
            #expect(!FileManager.default.fileExists(atPath: dir.volumes + "/gone.img"))
            #expect(store.volume(name) == nil)
            let error = #expect(throws: StorageError.self) {
                _ = try store.read(BlockKey(name, BlockID(1)), offsetInBlock: 0, length: 2)
            }
            #expect(error?.kind == .unknownVolume)
            // The name can be used again, starting empty.
            try store.createVolume(name, sizeBytes: 8192, blockSizeBytes: 4096)
            #expect(try store.read(BlockKey(name, BlockID(1)), offsetInBlock: 0, length: 2) == [0, 0])
            #expect(store.position(BlockKey(name, BlockID(1))) == .empty)
            #expect(store.promised(BlockKey(name, BlockID(1))) == .zero)
            store.close()
        }
        let store = try BlockStore(directory: dir.path)
        #expect(store.recovered.volumes.keys.sorted() == [VolumeName("gone"), VolumeName("kept")])
        #expect(store.recovered.promises == [blockKey("kept", 0): Epoch(4)])
        #expect(store.recovered.positions.isEmpty)
        store.close()
    }

    @Test func orphanVolumeFilesAreRemovedAndMissingOnesRefused() throws {
        let dir = StorageTempDirectory()
        do {
            let store = try BlockStore(directory: dir.path)
            try store.createVolume(VolumeName("real"), sizeBytes: 4096, blockSizeBytes: 4096)
            store.close()
        }
        // A create that crashed before its record: the file exists, the log does not know it.
        #expect(FileManager.default.createFile(atPath: dir.volumes + "/ghost.img", contents: Data(count: 4096)))
        // A resize that crashed before its record: the file is longer than the log says.
        try StorageTempDirectory.truncate(dir.volumes + "/real.img", to: 8192)
        do {
            let store = try BlockStore(directory: dir.path)
            #expect(store.recovered.removedOrphanFiles == ["ghost.img"])
            #expect(try StorageTempDirectory.size(dir.volumes + "/real.img") == 4096)
            store.close()
        }
        try FileManager.default.removeItem(atPath: dir.volumes + "/real.img")
        let error = #expect(throws: StorageError.self) { _ = try BlockStore(directory: dir.path) }
        #expect(error?.kind == .inconsistentLayout)
        #expect(error?.path == dir.volumes + "/real.img")
    }
}
