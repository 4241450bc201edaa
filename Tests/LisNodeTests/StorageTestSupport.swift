import Foundation
import LisCore
import Testing

@testable import LisNode

/// A fresh directory under the system temp directory, removed when the test ends.
final class StorageTempDirectory {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("lis-storage-\(UUID().uuidString)").path
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    var wal: String { path + "/wal" }
    var volumes: String { path + "/volumes" }

    /// The log segments, oldest first.
    func segments() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: wal).filter { $0.hasSuffix(".log") }.sorted()
            .map { wal + "/" + $0 }
    }
    func walBytes() throws -> Int {
        try segments().reduce(0) { $0 + (try Self.size($1)) }
    }

    static func size(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
    }
    static func flipBit(_ path: String, at offset: Int) throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[offset] ^= 0x10
        try data.write(to: URL(fileURLWithPath: path))
    }
    static func append(_ path: String, _ bytes: [UInt8]) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: bytes)
        try handle.close()
    }
    static func truncate(_ path: String, to size: Int) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(size))
        try handle.close()
    }
}

func blockKey(_ volume: String, _ block: UInt64) -> BlockKey { BlockKey(VolumeName(volume), BlockID(block)) }
func logPosition(_ epoch: UInt64, _ version: UInt64) -> LogPosition {
    LogPosition(epoch: Epoch(epoch), version: version)
}
/// `count` bytes that differ per seed and per offset, so misplaced bytes show.
func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &* 7 &+ 1) }
}

extension BlockStore {
    /// A plain write from bytes, as the shell applies a `persistWrite` effect.
    func write(
        _ key: BlockKey, _ position: LogPosition, at offset: UInt32, _ bytes: [UInt8], durable: Bool = false
    ) throws {
        try apply(
            write: BlockWrite(offset: offset, length: UInt32(bytes.count), data: .bytes(bytes)), at: position, to: key,
            durable: durable)
    }
}
