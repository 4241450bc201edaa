import Foundation
import GRDB
import LisCore
import Testing

@testable import LisNode

/// EmbeddedHive against its contract (`HiveEngine`), on a real SQLite file in a temp dir.
@Suite struct HiveTests {
    let nyc = RegionID("nyc")
    let london = RegionID("london")
    let a = NodeID("a")  // nyc
    let b = NodeID("b")  // london

    /// A fresh temp dir per test, removed afterwards.
    func withTempDir<T>(_ body: (String) async throws -> T) async throws -> T {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lis-hive-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        return try await body(dir.path)
    }

    func volume(_ name: String, sizeBytes: UInt64 = 16 << 20, allowed: [RegionID]? = nil) -> VolumeSpec {
        VolumeSpec(
            name: VolumeName(name), sizeBytes: sizeBytes, blockSizeBytes: 1 << 20, home: nyc, survive: .region,
            allowedRegions: allowed)
    }

    func record(epoch: UInt64, holder: NodeID, state: LeaseState = .active, stealer: LogPosition = .empty) -> LeaseRecord {
        LeaseRecord(
            epoch: Epoch(epoch), holder: holder, quorumRegions: [nyc, london], state: state,
            lastActive: ActiveTerm(epoch: Epoch(epoch == 0 ? 0 : epoch - 1), holder: a, quorumRegions: [nyc]),
            stealerPosition: stealer)
    }

    /// A hive with members a (nyc) and b (london) and volume "disk" (16 blocks).
    func makeHive(_ dir: String) async throws -> EmbeddedHive {
        let hive = try EmbeddedHive(path: dir + "/hive.sqlite")
        try await hive.register(HiveMember(node: a, region: nyc))
        try await hive.register(HiveMember(node: b, region: london))
        try await hive.createVolume(volume("disk"))
        return hive
    }

    @Test func volumesRoundTripEveryFieldAndListSortedByName() async throws {
        try await withTempDir { dir in
            let hive = try EmbeddedHive(path: dir + "/hive.sqlite")
            let zeta = VolumeSpec(
                name: VolumeName("zeta"), sizeBytes: 1 << 40, blockSizeBytes: 64 << 20, home: london, survive: .node,
                allowedRegions: nil)
            let alpha = volume("alpha", allowed: [london, nyc])
            let empty = volume("empty-list", allowed: [])
            try await hive.createVolume(zeta)
            try await hive.createVolume(alpha)
            try await hive.createVolume(empty)
            #expect(try await hive.volumes() == [alpha, empty, zeta])
        }
    }

    @Test func volumeErrors() async throws {
        try await withTempDir { dir in
            let hive = try EmbeddedHive(path: dir + "/hive.sqlite")
            let disk = volume("disk")
            try await hive.createVolume(disk)
            await #expect(throws: HiveError.volumeExists(VolumeName("disk"))) { try await hive.createVolume(disk) }
            await #expect(throws: HiveError.noSuchVolume(VolumeName("nope"))) { try await hive.updateVolume(volume("nope")) }
            await #expect(throws: HiveError.noSuchVolume(VolumeName("nope"))) { try await hive.deleteVolume(VolumeName("nope")) }
            await #expect(throws: HiveError.noSuchVolume(VolumeName("nope"))) { try await hive.records(of: VolumeName("nope")) }

            var shrunk = disk
            shrunk.sizeBytes -= 1 << 20
            let shrink = await #expect(throws: HiveError.self) { try await hive.updateVolume(shrunk) }
            #expect(shrink?.description.contains("can only grow") == true)

            var reblocked = disk
            reblocked.blockSizeBytes = 2 << 20
            let reblock = await #expect(throws: HiveError.self) { try await hive.updateVolume(reblocked) }
            #expect(reblock?.description.contains("block size") == true)

            await #expect(throws: HiveError.self) { try await hive.createVolume(volume("bad/name")) }
            await #expect(throws: HiveError.self) { try await hive.createVolume(volume("zero", sizeBytes: 0)) }
            #expect(try await hive.volumes() == [disk])
        }
    }

    @Test func updateGrowsAndDeleteRemovesTheVolumeAndItsRecords() async throws {
        try await withTempDir { dir in
            let hive = try await makeHive(dir)
            var grown = volume("disk", sizeBytes: 32 << 20, allowed: [nyc, london])
            try await hive.updateVolume(grown)
            #expect(try await hive.volumes() == [grown])

            let key = BlockKey(VolumeName("disk"), BlockID(20))  // only exists after the grow
            #expect(try await hive.compareAndSet(key, expected: nil, new: record(epoch: 1, holder: b)).ok)

            // b (london) holds a block: the volume cannot be pinned away from london.
            var narrowed = grown
            narrowed.allowedRegions = [nyc]
            await #expect(throws: HiveError.pinned(VolumeName("disk"), london)) { try await hive.updateVolume(narrowed) }
            #expect(try await hive.volumes() == [grown])
            try await hive.deleteVolume(VolumeName("disk"))
            #expect(try await hive.volumes() == [])
            #expect(try await hive.get(key) == nil)

            // A new volume with the old name starts with no records.
            grown.allowedRegions = nil
            try await hive.createVolume(grown)
            #expect(try await hive.records(of: VolumeName("disk")).isEmpty)
        }
    }

    @Test func membersAreSortedAndKeepTheirRegion() async throws {
        try await withTempDir { dir in
            let hive = try EmbeddedHive(path: dir + "/hive.sqlite")
            try await hive.register(HiveMember(node: b, region: london))
            try await hive.register(HiveMember(node: a, region: nyc))
            try await hive.register(HiveMember(node: a, region: nyc))  // again: no change
            #expect(try await hive.members() == [HiveMember(node: a, region: nyc), HiveMember(node: b, region: london)])
            let moved = await #expect(throws: HiveError.self) {
                try await hive.register(HiveMember(node: a, region: london))
            }
            #expect(moved?.description.contains("cannot move to region london") == true)
        }
    }

    @Test func compareAndSetSemantics() async throws {
        try await withTempDir { dir in
            let hive = try await makeHive(dir)
            let key = BlockKey(VolumeName("disk"), BlockID(3))
            #expect(try await hive.get(key) == nil)

            // Absent → record.
            let first = record(epoch: 1, holder: b, state: .stealing, stealer: LogPosition(epoch: .zero, version: 7))
            let claim = try await hive.compareAndSet(key, expected: nil, new: first)
            #expect(claim.ok && claim.current == first)
            #expect(try await hive.get(key) == first)

            // A wrong expectation fails and returns the current record.
            let again = try await hive.compareAndSet(key, expected: nil, new: record(epoch: 1, holder: a))
            #expect(!again.ok && again.current == first)

            // Equality is over the whole record: a different stealer position, last active term
            // or quorum is a different record, even with the same epoch, holder and state.
            var otherPosition = first
            otherPosition.stealerPosition = LogPosition(epoch: .zero, version: 8)
            var otherTerm = first
            otherTerm.lastActive.quorumRegions = [nyc, london]
            var otherQuorum = first
            otherQuorum.quorumRegions = [london]
            for wrong in [otherPosition, otherTerm, otherQuorum] {
                let result = try await hive.compareAndSet(key, expected: wrong, new: record(epoch: 2, holder: a))
                #expect(!result.ok && result.current == first)
            }

            // Exact match succeeds.
            let active = record(epoch: 1, holder: b, state: .active)
            let activate = try await hive.compareAndSet(key, expected: first, new: active)
            #expect(activate.ok && activate.current == active)
            #expect(try await hive.get(key) == active)
        }
    }

    @Test func compareAndSetRefusesPinnedUnknownAndOutOfRange() async throws {
        try await withTempDir { dir in
            let hive = try await makeHive(dir)
            try await hive.createVolume(volume("pinned", allowed: [nyc]))
            let key = BlockKey(VolumeName("pinned"), BlockID(0))

            // Holder b is in london, which the volume does not allow: refused even though the
            // expectation (no record) is right.
            await #expect(throws: HiveError.pinned(VolumeName("pinned"), london)) {
                try await hive.compareAndSet(key, expected: nil, new: record(epoch: 1, holder: b))
            }
            #expect(try await hive.get(key) == nil)
            #expect(try await hive.compareAndSet(key, expected: nil, new: record(epoch: 1, holder: a)).ok)

            let stranger = await #expect(throws: HiveError.self) {
                try await hive.compareAndSet(key, expected: nil, new: record(epoch: 1, holder: NodeID("z")))
            }
            #expect(stranger?.description.contains("not a member") == true)
            let past = await #expect(throws: HiveError.self) {
                try await hive.compareAndSet(
                    BlockKey(VolumeName("disk"), BlockID(16)), expected: nil, new: record(epoch: 1, holder: a))
            }
            #expect(past?.description.contains("past the end") == true)
            await #expect(throws: HiveError.noSuchVolume(VolumeName("gone"))) {
                try await hive.compareAndSet(
                    BlockKey(VolumeName("gone"), BlockID(0)), expected: nil, new: record(epoch: 1, holder: a))
            }
        }
    }

    @Test func answerMapsCoreRequests() async throws {
        try await withTempDir { dir in
            let hive = try await makeHive(dir)
            try await hive.createVolume(volume("pinned", allowed: [nyc]))
            let key = BlockKey(VolumeName("disk"), BlockID(1))
            let new = record(epoch: 1, holder: b)
            #expect(await hive.answer(.get(key)) == .record(key, nil))
            #expect(await hive.answer(.compareAndSet(key, expected: nil, new: new)) == .swapped(key, ok: true, current: new))
            #expect(await hive.answer(.compareAndSet(key, expected: nil, new: new)) == .swapped(key, ok: false, current: new))
            let pinned = BlockKey(VolumeName("pinned"), BlockID(0))
            guard case .unavailable(pinned, let reason) = await hive.answer(.compareAndSet(pinned, expected: nil, new: new)) else {
                Issue.record("a pinned claim must be unavailable")
                return
            }
            #expect(reason.contains("does not allow region london"))
        }
    }

    @Test func everythingPersistsAcrossReopen() async throws {
        try await withTempDir { dir in
            let extreme = LeaseRecord(
                epoch: Epoch(UInt64.max), holder: b, quorumRegions: [RegionID("lon,don \"2\""), nyc], state: .stealing,
                lastActive: ActiveTerm(epoch: Epoch(UInt64.max - 1), holder: a, quorumRegions: []),
                stealerPosition: LogPosition(epoch: Epoch(1 << 63), version: UInt64.max))
            let ordinary = record(epoch: 4, holder: a)
            do {
                let hive = try await makeHive(dir)
                // Inserted out of order; records(of:) sorts by block.
                #expect(try await hive.compareAndSet(BlockKey(VolumeName("disk"), BlockID(9)), expected: nil, new: ordinary).ok)
                #expect(try await hive.compareAndSet(BlockKey(VolumeName("disk"), BlockID(2)), expected: nil, new: extreme).ok)
            }
            let reopened = try EmbeddedHive(path: dir + "/hive.sqlite")
            #expect(try await reopened.members() == [HiveMember(node: a, region: nyc), HiveMember(node: b, region: london)])
            #expect(try await reopened.volumes() == [volume("disk")])
            let records = try await reopened.records(of: VolumeName("disk"))
            #expect(records.map(\.0) == [BlockKey(VolumeName("disk"), BlockID(2)), BlockKey(VolumeName("disk"), BlockID(9))])
            #expect(records.map(\.1) == [extreme, ordinary])
            #expect(try await reopened.get(BlockKey(VolumeName("disk"), BlockID(2))) == extreme)
        }
    }

    @Test func fileIsWALAndSyncedOnEveryCommit() async throws {
        try await withTempDir { dir in
            let hive = try EmbeddedHive(path: dir + "/hive.sqlite")
            let (mode, synchronous) = try await hive.database.read { db in
                (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
            }
            #expect(mode == "wal")
            #expect(synchronous == 2)  // FULL
        }
    }

    @Test func openFailsWithAMessage() async throws {
        let error = #expect(throws: HiveError.self) {
            try EmbeddedHive(path: "/nonexistent-dir-\(UUID().uuidString)/hive.sqlite")
        }
        #expect(error?.description.contains("cannot open") == true)
    }

    /// Many tasks race to swap the same record: for each expected value exactly one wins, and
    /// every loser is told the winner's record.
    @Test func concurrentCompareAndSetHasOneWinnerPerExpectedValue() async throws {
        try await withTempDir { dir in
            let hive = try await makeHive(dir)
            let key = BlockKey(VolumeName("disk"), BlockID(5))
            let contenders = 32
            var expected: LeaseRecord? = nil
            for round in 1...5 {
                let results = try await withThrowingTaskGroup(of: (Int, Bool, LeaseRecord?).self) { group in
                    for i in 0..<contenders {
                        let new = LeaseRecord(
                            epoch: Epoch(UInt64(round)), holder: i % 2 == 0 ? a : b, quorumRegions: [nyc], state: .active,
                            lastActive: ActiveTerm(epoch: .zero, holder: a, quorumRegions: [nyc]),
                            stealerPosition: LogPosition(epoch: .zero, version: UInt64(i)))
                        group.addTask { [expected] in
                            let (ok, current) = try await hive.compareAndSet(key, expected: expected, new: new)
                            return (i, ok, current)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let winners = results.filter(\.1)
                #expect(winners.count == 1, "round \(round)")
                let winner = try #require(winners.first)
                let winning = try #require(winner.2)
                #expect(winning.stealerPosition.version == UInt64(winner.0))
                #expect(results.allSatisfy { $0.2 == winning }, "every loser sees the winner, round \(round)")
                #expect(try await hive.get(key) == winning)
                expected = winning
            }
        }
    }
}
