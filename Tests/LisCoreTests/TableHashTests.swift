@testable import LisCore
import Testing

/// The identifiers' own table hash (`tableHash`): equal keys hash alike, and keys that differ
/// only in a few bits, high or low, still spread over a table's buckets.
@Suite struct TableHashTests {
    /// How many keys share the fullest of `buckets` (a power of two) buckets, as a table takes
    /// the hash's low bits.
    static func fullestBucket(_ hashes: [Int], buckets: Int) -> Int {
        var counts = [Int](repeating: 0, count: buckets)
        for h in hashes { counts[h & (buckets - 1)] += 1 }
        return counts.max() ?? 0
    }

    @Test func equalKeysHashAlike() {
        let seed = 0x1234_5678
        let a = BlockKey(VolumeName("vm-disk-with-a-long-name"), BlockID(77))
        let b = BlockKey(VolumeName("vm-disk-with-a-long-" + "name"), BlockID(77))
        #expect(a == b)
        #expect(a._rawHashValue(seed: seed) == b._rawHashValue(seed: seed))
        #expect(NodeID("nyc-1")._rawHashValue(seed: seed) == NodeID("nyc" + "-1")._rawHashValue(seed: seed))
        #expect(
            RequestID(origin: NodeID("n"), seq: 9)._rawHashValue(seed: seed)
                == RequestID(origin: NodeID("n"), seq: 9)._rawHashValue(seed: seed))
        // Another table's seed gives another hash.
        #expect(a._rawHashValue(seed: seed) != a._rawHashValue(seed: seed + 1))
    }

    /// 4,096 blocks into 4,096 buckets: consecutive blocks, and blocks 65,536 apart (only
    /// high bits differ: a hash that passed the bits through would put them all in one
    /// bucket). A uniform hash's fullest bucket holds about 7.
    @Test(arguments: [1, 65_536])
    func blocksSpreadOverBuckets(stride: UInt64) {
        let volume = VolumeName("vm")
        let hashes = (0..<UInt64(4_096)).map { BlockKey(volume, BlockID($0 &* stride))._rawHashValue(seed: 42) }
        #expect(Self.fullestBucket(hashes, buckets: 4_096) <= 12)
    }

    /// The same block in 4,096 volumes, 4,096 requests of one origin, and sequence numbers and
    /// epochs that differ only in high bits.
    @Test func volumesAndRequestsSpreadOverBuckets() {
        #expect(Self.fullestBucket((0..<UInt64(4_096)).map { SequenceKey($0 << 32)._rawHashValue(seed: 7) }, buckets: 4_096) <= 12)
        #expect(Self.fullestBucket((0..<UInt64(4_096)).map { Epoch($0 << 32)._rawHashValue(seed: 7) }, buckets: 4_096) <= 12)
        let volumes = (0..<4_096).map { BlockKey(VolumeName("vm-\($0)"), BlockID(0))._rawHashValue(seed: 7) }
        #expect(Self.fullestBucket(volumes, buckets: 4_096) <= 12)
        let origin = NodeID("london-2")
        let requests = (0..<UInt64(4_096)).map { RequestID(origin: origin, seq: $0 << 20)._rawHashValue(seed: 7) }
        #expect(Self.fullestBucket(requests, buckets: 4_096) <= 12)
    }

    /// A dictionary keyed by blocks finds every key it was given and no other.
    @Test func dictionaryFindsEveryKey() {
        var table: [BlockKey: UInt64] = [:]
        for i in 0..<UInt64(20_000) { table[BlockKey(VolumeName("v\(i % 3)"), BlockID(i / 3))] = i }
        #expect(table.count == 20_000)
        #expect((0..<UInt64(20_000)).allSatisfy { i in table[BlockKey(VolumeName("v\(i % 3)"), BlockID(i / 3))] == i })
        #expect(table[BlockKey(VolumeName("v3"), BlockID(0))] == nil)
    }
}
