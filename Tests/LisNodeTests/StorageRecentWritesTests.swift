import Foundation
import LisCore
import Testing

@testable import LisNode

/// The ids of writes other nodes sent a block are stored with the block's position, so that a
/// write its origin sends again after this node restarted is recognised, not applied twice
/// (`StoreState.recent`, `NodeCore.restore`).
@Suite("Block store: the ids of other nodes' writes")
struct StorageRecentWritesTests {
    static let volume = VolumeName("disk")
    static let nyc = NodeID("nyc-1")
    static let sydney = NodeID("sydney-1")

    func makeStore(_ dir: StorageTempDirectory, limits: BlockStore.Limits = .init()) throws -> BlockStore {
        let store = try BlockStore(directory: dir.path, limits: limits)
        try store.createVolume(Self.volume, sizeBytes: 1 << 20, blockSizeBytes: 64 << 10)
        return store
    }

    static func ref(_ origin: NodeID, _ seq: UInt64, _ position: LogPosition) -> WriteRef {
        WriteRef(id: RequestID(origin: origin, seq: seq), position: position)
    }

    func write(_ store: BlockStore, _ key: BlockKey, _ position: LogPosition, id: RequestID?, durable: Bool = false) throws {
        try store.apply(
            write: BlockWrite(offset: 0, length: 8, data: .bytes(pattern(8, seed: UInt8(truncatingIfNeeded: position.version)))),
            at: position, to: key, durable: durable, id: id)
    }

    @Test func theIdsSurviveACrashWithThePositionsThatCoverThem() throws {
        let dir = StorageTempDirectory()
        let key = blockKey("disk", 3)
        do {
            let store = try makeStore(dir)
            try write(store, key, logPosition(2, 1), id: RequestID(origin: Self.nyc, seq: 1))
            try write(store, key, logPosition(2, 2), id: nil)  // this node's own client
            try write(store, key, logPosition(2, 3), id: RequestID(origin: Self.sydney, seq: 9), durable: true)  // FUA
            // Never synced: neither its position nor its id may come back.
            try write(store, key, logPosition(2, 4), id: RequestID(origin: Self.nyc, seq: 2))
            store.simulateCrash()
        }
        let store = try BlockStore(directory: dir.path)
        #expect(store.recovered.positions == [key: logPosition(2, 3)])
        #expect(store.recovered.recent == [key: [Self.ref(Self.nyc, 1, logPosition(2, 1)), Self.ref(Self.sydney, 9, logPosition(2, 3))]])
        store.close()
    }

    @Test func aNodeWhoseOwnClientsWriteLogsNoIds() throws {
        let dir = StorageTempDirectory()
        do {
            let store = try makeStore(dir)
            try store.write(blockKey("disk", 0), logPosition(0, 1), at: 0, pattern(4096, seed: 1))
            let before = try dir.walBytes()
            try store.sync()
            #expect(store.recovered.recent.isEmpty)
            #expect(try dir.walBytes() - before < 64, "one position record, no id record")
            store.simulateCrash()
        }
        let store = try BlockStore(directory: dir.path)
        #expect(store.recovered.recent.isEmpty)
        store.close()
    }

    /// A write at a version the copy already reached replaces the entries from there on (a new
    /// holder's history): their ids go too, or a retry of one would be answered as stored.
    @Test func aWriteThatReplacesEntriesForgetsTheirIds() throws {
        let dir = StorageTempDirectory()
        let key = blockKey("disk", 1)
        do {
            let store = try makeStore(dir)
            try write(store, key, logPosition(1, 1), id: RequestID(origin: Self.nyc, seq: 1))
            try write(store, key, logPosition(1, 2), id: RequestID(origin: Self.nyc, seq: 2))
            try write(store, key, logPosition(1, 3), id: RequestID(origin: Self.nyc, seq: 3))
            try store.sync()
            try write(store, key, logPosition(2, 2), id: nil)
            try store.sync()
            store.simulateCrash()
        }
        let store = try BlockStore(directory: dir.path)
        #expect(store.recovered.positions == [key: logPosition(2, 2)])
        #expect(store.recovered.recent == [key: [Self.ref(Self.nyc, 1, logPosition(1, 1))]])
        store.close()
    }

    /// Random writes (some from other nodes, some replacing entries), installs that bring their
    /// own ids, syncs and checkpoints: what comes back after a crash is exactly the newest
    /// `WriteRef.keptPerBlock` ids per block of a model that applies the same rules.
    @Test func recoveryMatchesAModelAcrossCheckpointsInstallsAndTheCap() throws {
        let dir = StorageTempDirectory()
        var model: [BlockKey: [WriteRef]] = [:]
        var versions: [BlockKey: UInt64] = [:]
        var rng = SeededRandom(seed: 5)
        let origins = [Self.nyc, Self.sydney]
        do {
            let store = try makeStore(dir, limits: .init(checkpointAfterBytes: 16 << 10))
            for step in 1...4000 as ClosedRange<UInt64> {
                let key = blockKey("disk", UInt64.random(in: 0..<4, using: &rng))
                // Block 3 only ever gets writes at the next version: its ids reach the cap.
                let roll = key.block.index == 3 ? Int.random(in: 8..<100, using: &rng) : Int.random(in: 0..<100, using: &rng)
                var version = (versions[key] ?? 0) + 1
                if (5..<8).contains(roll) { version = UInt64.random(in: 1...version, using: &rng) }  // replaces entries
                let position = logPosition(step / 100, version)
                if roll < 5 {
                    let refs = (0..<Int.random(in: 0..<4, using: &rng)).map { i in
                        Self.ref(origins[i % 2], step * 10 + UInt64(i), logPosition(step / 100, UInt64(i + 1)))
                    }
                    try store.install(key, image: nil, upTo: position, recent: refs)
                    model[key] = refs.isEmpty ? nil : refs
                } else {
                    let id = roll < 70 ? RequestID(origin: origins[roll % 2], seq: step) : nil
                    try write(store, key, position, id: id, durable: roll > 97)
                    var refs = (model[key] ?? []).filter { $0.position.version < version }
                    if let id { refs.append(WriteRef(id: id, position: position)) }
                    model[key] = refs.isEmpty ? nil : Array(refs.suffix(WriteRef.keptPerBlock))
                }
                versions[key] = version
                if step % 50 == 0 { try store.sync() }
            }
            try store.sync()
            #expect(store.stats.checkpoints > 3)
            #expect(model.values.contains { $0.count == WriteRef.keptPerBlock }, "the cap was reached")
            store.simulateCrash()
        }
        let store = try BlockStore(directory: dir.path)
        #expect(store.recovered.recent == model)
        store.close()
    }

    /// A checkpoint written before ids were stored (it ends after the positions) still opens.
    @Test func aCheckpointWithoutIdsDecodes() throws {
        var state = StoreState()
        _ = state.apply(.volumeCreated(VolumeRecord(id: 1, name: Self.volume, sizeBytes: 1 << 20, blockSizeBytes: 64 << 10)))
        _ = state.apply(.install(SlotKey(volumeID: 1, block: 2), logPosition(1, 4)))
        var bytes: [UInt8] = []
        state.encode(into: &bytes)
        let old = Array(bytes.dropLast(8))  // without the count of blocks with ids (zero)
        let decoded = old.withUnsafeBytes { raw in
            var r = WALPayloadReader(raw)
            return StoreState.decode(&r)
        }
        #expect(decoded == state)
        state.setRecent(SlotKey(volumeID: 1, block: 2), [Self.ref(Self.nyc, 1, logPosition(1, 4))])
        var withIds: [UInt8] = []
        state.encode(into: &withIds)
        let decodedWithIds = withIds.withUnsafeBytes { raw in
            var r = WALPayloadReader(raw)
            return StoreState.decode(&r)
        }
        #expect(decodedWithIds == state)
    }
}
