import Foundation
import GRDB
import LisCore
import Synchronization
import Testing

@testable import LisNode

/// The engines the contract tests run against. etcd runs when `LIS_TEST_ETCD` names a live
/// etcd (`scripts/test.sh` starts one and sets it, with `LIS_REQUIRE_ETCD=1`).
enum HiveKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case embedded, etcd
    var testDescription: String { rawValue }

    static let etcdEndpoint = ProcessInfo.processInfo.environment["LIS_TEST_ETCD"]
    static var available: [HiveKind] { etcdEndpoint == nil ? [.embedded] : [.embedded, .etcd] }

    /// Runs `body` with a function that opens one fresh, empty hive of this kind; each call
    /// opens it again (a restart of the node that uses it). Removed afterwards.
    func with<T>(_ body: (_ open: () throws -> any HiveEngine) async throws -> T) async throws -> T {
        switch self {
        case .embedded:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lis-hive-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            return try await body { try EmbeddedHive(path: dir.path + "/hive.sqlite") }
        case .etcd:
            let endpoint = try #require(Self.etcdEndpoint)
            // A prefix per test: tests run in parallel against one etcd.
            let prefix = "/lis-test-\(UUID().uuidString)/"
            let result = try await body { try EtcdHive(endpoints: [endpoint], prefix: prefix) }
            let gateway = try EtcdHive(endpoints: [endpoint], prefix: prefix).gateway
            _ = try? await gateway.txn([], success: [.delete(prefix: prefix)])
            return result
        }
    }
}

/// Every Hive engine against its contract (`HiveEngine`): the embedded SQLite file in a temp
/// dir, and etcd through its JSON gateway.
@Suite struct HiveTests {
    let nyc = RegionID("nyc")
    let london = RegionID("london")
    let a = NodeID("a")  // nyc
    let b = NodeID("b")  // london

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
    func makeHive(_ open: () throws -> any HiveEngine) async throws -> any HiveEngine {
        let hive = try open()
        try await join(hive, HiveMember(node: a, region: nyc))
        try await join(hive, HiveMember(node: b, region: london))
        try await hive.createVolume(volume("disk"))
        return hive
    }

    /// Registers a node, then has every member acknowledge the whole list (as each node does
    /// once it has applied it).
    func join(_ hive: any HiveEngine, _ member: HiveMember) async throws {
        try await hive.register(member)
        let members = try await hive.members()
        for m in members { try await hive.acknowledgeMembers(m.node, count: members.count) }
    }

    /// A join waits until every member has seen every node that joined before it, so no two
    /// nodes' views differ by more than one node; a known node may always register again.
    @Test(arguments: HiveKind.available) func aJoinWaitsUntilEveryMemberHasSeenTheLast(_ kind: HiveKind) async throws {
        try await kind.with { open in
            let hive = try open()
            try await hive.register(HiveMember(node: a, region: nyc))
            let early = await #expect(throws: HiveError.self) { try await hive.register(HiveMember(node: b, region: nyc)) }
            guard case .retryLater(let why) = early else {
                Issue.record("expected retryLater, got \(String(describing: early))")
                return
            }
            #expect(why.contains("member a has not yet seen"))
            try await hive.acknowledgeMembers(a, count: 1)
            try await hive.register(HiveMember(node: b, region: nyc))
            let c = NodeID("c")
            // a has seen both, b has not yet acknowledged: c waits.
            try await hive.acknowledgeMembers(a, count: 2)
            await #expect(throws: HiveError.self) { try await hive.register(HiveMember(node: c, region: london)) }
            // A known node registers again (a restart, a new address) whatever the others saw.
            try await hive.register(HiveMember(node: a, region: nyc, address: "10.0.0.1:7781"))
            try await hive.acknowledgeMembers(b, count: 2)
            try await hive.register(HiveMember(node: c, region: london))
            #expect(try await hive.members().map(\.node) == [a, b, c])
        }
    }

    @Test func etcdRunsWhenRequired() {
        if ProcessInfo.processInfo.environment["LIS_REQUIRE_ETCD"] == "1" {
            #expect(HiveKind.etcdEndpoint != nil, "LIS_REQUIRE_ETCD=1 but LIS_TEST_ETCD names no etcd")
        }
    }

    @Test(arguments: HiveKind.available) func volumesRoundTripEveryFieldAndListSortedByName(_ kind: HiveKind) async throws {
        try await kind.with { open in
            let hive = try open()
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

    @Test(arguments: HiveKind.available) func volumeErrors(_ kind: HiveKind) async throws {
        try await kind.with { open in
            let hive = try open()
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

    @Test(arguments: HiveKind.available) func updateGrowsAndDeleteRemovesTheVolumeAndItsRecords(_ kind: HiveKind) async throws {
        try await kind.with { open in
            let hive = try await makeHive(open)
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

    @Test(arguments: HiveKind.available) func membersKeepTheirOrderAndRegion(_ kind: HiveKind) async throws {
        try await kind.with { open in
            let hive = try open()
            try await join(hive, HiveMember(node: b, region: london))
            try await join(hive, HiveMember(node: a, region: nyc))
            try await hive.register(HiveMember(node: a, region: nyc))  // again: no change
            // In the order they first registered, not by id: a region's first node stays first.
            #expect(try await hive.members() == [HiveMember(node: b, region: london), HiveMember(node: a, region: nyc)])
            // A restarted node records its new address and keeps its place.
            try await hive.register(HiveMember(node: b, region: london, address: "10.0.0.2:7781"))
            try await hive.register(HiveMember(node: b, region: london, address: "10.0.0.2:7782"))
            #expect(
                try await hive.members() == [
                    HiveMember(node: b, region: london, address: "10.0.0.2:7782"), HiveMember(node: a, region: nyc),
                ])
            let moved = await #expect(throws: HiveError.self) {
                try await hive.register(HiveMember(node: a, region: london))
            }
            #expect(moved?.description.contains("cannot move to region london") == true)
        }
    }

    @Test(arguments: HiveKind.available) func compareAndSetSemantics(_ kind: HiveKind) async throws {
        try await kind.with { open in
            let hive = try await makeHive(open)
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

    @Test(arguments: HiveKind.available) func compareAndSetRefusesPinnedUnknownAndOutOfRange(_ kind: HiveKind) async throws {
        try await kind.with { open in
            let hive = try await makeHive(open)
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

    @Test(arguments: HiveKind.available) func answerMapsCoreRequests(_ kind: HiveKind) async throws {
        try await kind.with { open in
            let hive = try await makeHive(open)
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

    @Test(arguments: HiveKind.available) func everythingPersistsAcrossReopen(_ kind: HiveKind) async throws {
        try await kind.with { open in
            let extreme = LeaseRecord(
                epoch: Epoch(UInt64.max), holder: b, quorumRegions: [RegionID("lon,don \"2\""), nyc], state: .stealing,
                lastActive: ActiveTerm(epoch: Epoch(UInt64.max - 1), holder: a, quorumRegions: []),
                stealerPosition: LogPosition(epoch: Epoch(1 << 63), version: UInt64.max))
            let ordinary = record(epoch: 4, holder: a)
            do {
                let hive = try await makeHive(open)
                // Inserted out of order; records(of:) sorts by block.
                #expect(try await hive.compareAndSet(BlockKey(VolumeName("disk"), BlockID(9)), expected: nil, new: ordinary).ok)
                #expect(try await hive.compareAndSet(BlockKey(VolumeName("disk"), BlockID(2)), expected: nil, new: extreme).ok)
            }
            let reopened = try open()
            #expect(try await reopened.members() == [HiveMember(node: a, region: nyc), HiveMember(node: b, region: london)])
            #expect(try await reopened.volumes() == [volume("disk")])
            let records = try await reopened.records(of: VolumeName("disk"))
            #expect(records.map(\.0) == [BlockKey(VolumeName("disk"), BlockID(2)), BlockKey(VolumeName("disk"), BlockID(9))])
            #expect(records.map(\.1) == [extreme, ordinary])
            #expect(try await reopened.get(BlockKey(VolumeName("disk"), BlockID(2))) == extreme)
        }
    }

    @Test(arguments: HiveKind.available) func placementPauseIsOffUntilSetAndPersists(_ kind: HiveKind) async throws {
        try await kind.with { open in
            do {
                let hive = try open()
                #expect(try await hive.placementPaused() == false)
                try await hive.setPlacementPaused(true)
                #expect(try await hive.placementPaused())
            }
            let reopened = try open()
            #expect(try await reopened.placementPaused(), "the switch survives a reopen")
            try await reopened.setPlacementPaused(false)
            #expect(try await reopened.placementPaused() == false)
        }
    }

    @Test func fileIsWALAndSyncedOnEveryCommit() async throws {
        try await HiveKind.embedded.with { open in
            let hive = try #require(try open() as? EmbeddedHive)
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
    @Test(arguments: HiveKind.available) func concurrentCompareAndSetHasOneWinnerPerExpectedValue(_ kind: HiveKind) async throws {
        try await kind.with { open in
            let hive = try await makeHive(open)
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

    // MARK: etcd only

    /// Two nodes' engines on one etcd: a spec cached by one is not trusted after the other
    /// changed it. Node 1 has read "disk" (any region); node 2 pins it to nyc; node 1's claim
    /// for london must be refused, not checked against its stale copy.
    @Test(.enabled(if: HiveKind.etcdEndpoint != nil)) func etcdChecksPinningAgainstTheCurrentSpec() async throws {
        try await HiveKind.etcd.with { open in
            let one = try await makeHive(open)
            let two = try open()
            let key = BlockKey(VolumeName("disk"), BlockID(1))
            #expect(try await one.compareAndSet(key, expected: nil, new: record(epoch: 1, holder: a)).ok)
            try await two.updateVolume(volume("disk", allowed: [nyc]))
            await #expect(throws: HiveError.pinned(VolumeName("disk"), london)) {
                try await one.compareAndSet(key, expected: record(epoch: 1, holder: a), new: record(epoch: 2, holder: b))
            }
            // And a volume deleted and created again under the same name by another node.
            try await two.deleteVolume(VolumeName("disk"))
            await #expect(throws: HiveError.noSuchVolume(VolumeName("disk"))) {
                try await one.compareAndSet(key, expected: nil, new: record(epoch: 1, holder: a))
            }
            try await two.createVolume(volume("disk", sizeBytes: 1 << 20))
            let past = await #expect(throws: HiveError.self) {
                try await one.compareAndSet(key, expected: nil, new: record(epoch: 1, holder: a))
            }
            #expect(past?.description.contains("past the end") == true)
        }
    }

    /// A record stored in other bytes (another version's field order) still matches its
    /// expected value.
    @Test(.enabled(if: HiveKind.etcdEndpoint != nil)) func etcdComparesRecordsNotBytes() async throws {
        try await HiveKind.etcd.with { open in
            let hive = try #require(try await makeHive(open) as? EtcdHive)
            let key = BlockKey(VolumeName("disk"), BlockID(4))
            let first = record(epoch: 1, holder: b)
            #expect(try await hive.compareAndSet(key, expected: nil, new: first).ok)
            let stored = try #require(try await hive.gateway.read([.get(hive.prefix + "leases/disk/00000000000000000004")])
                .ranges.first?.first)
            let object = try #require(try JSONSerialization.jsonObject(with: stored.value) as? [String: Any])
            let reordered = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted])
            #expect(reordered != stored.value)
            _ = try await hive.gateway.txn([], success: [.put(stored.key, reordered)])
            #expect(try await hive.get(key) == first)
            let second = record(epoch: 2, holder: a)
            #expect(try await hive.compareAndSet(key, expected: first, new: second) == (true, second))
            #expect(try await hive.compareAndSet(key, expected: first, new: first) == (false, second))
        }
    }

    /// Endpoints are tried in order: a dead first endpoint is skipped; with none alive, a call
    /// fails with a message naming etcd, and the core's call becomes `unavailable`.
    @Test(.enabled(if: HiveKind.etcdEndpoint != nil)) func etcdSkipsDeadEndpointsAndFailsWithAMessage() async throws {
        let live = try #require(HiveKind.etcdEndpoint)
        let dead = "http://127.0.0.1:9"  // discard: nothing listens
        let prefix = "/lis-test-\(UUID().uuidString)/"
        let hive = try EtcdHive(endpoints: [dead, live], prefix: prefix)
        try await hive.register(HiveMember(node: a, region: nyc))
        #expect(try await hive.members() == [HiveMember(node: a, region: nyc)])
        _ = try await hive.gateway.txn([], success: [.delete(prefix: prefix)])

        let nowhere = try EtcdHive(endpoints: [dead], prefix: prefix, timeout: .seconds(2))
        let error = await #expect(throws: HiveError.self) { try await nowhere.members() }
        #expect(error?.description.contains("etcd at \(dead)") == true)
        let key = BlockKey(VolumeName("disk"), BlockID(0))
        guard case .unavailable(key, let reason) = await nowhere.answer(.get(key)) else {
            Issue.record("an unreachable etcd must make the call unavailable")
            return
        }
        #expect(reason.contains("etcd"))
    }

    /// A member is alive while it renews its keep-alive (an etcd lease): one that stops lapses
    /// after the TTL, one that never sent one counts as lapsed, and a node that renews after
    /// its lease expired (it stalled) is alive again under a new lease. Membership itself stays.
    @Test(.enabled(if: HiveKind.etcdEndpoint != nil)) func etcdMembersLapseWhenTheyStopRenewing() async throws {
        let endpoint = try #require(HiveKind.etcdEndpoint)
        let prefix = "/lis-test-\(UUID().uuidString)/"
        let nodeA = try EtcdHive(endpoints: [endpoint], prefix: prefix, aliveTTLSeconds: 2)
        let nodeB = try EtcdHive(endpoints: [endpoint], prefix: prefix, aliveTTLSeconds: 2)
        try await nodeA.register(HiveMember(node: a, region: nyc))
        try await nodeA.acknowledgeMembers(a, count: 1)
        try await nodeB.register(HiveMember(node: b, region: london))
        #expect(try await nodeA.lapsedMembers() == [a, b], "no keep-alive yet")
        try await nodeA.keepAlive(a)
        try await nodeB.keepAlive(b)
        #expect(try await nodeA.lapsedMembers() == [])
        // a renews every 600 ms for 3.6 s; b stops.
        for _ in 0..<6 {
            try await Task.sleep(for: .milliseconds(600))
            try await nodeA.keepAlive(a)
        }
        #expect(try await nodeA.lapsedMembers() == [b])
        #expect(try await nodeA.members().map(\.node) == [a, b], "a lapsed member stays a member")
        try await nodeB.keepAlive(b)
        #expect(try await nodeA.lapsedMembers() == [])
        _ = try await nodeA.gateway.txn([], success: [.delete(prefix: prefix)])
    }

    @Test func etcdSettingsAreChecked() {
        #expect(throws: HiveError.self) { try EtcdHive(endpoints: []) }
        #expect(throws: HiveError.self) { try EtcdHive(endpoints: ["127.0.0.1:2379"]) }
        #expect(throws: HiveError.self) { try EtcdHive(endpoints: ["http://127.0.0.1:2379"], prefix: "lis") }
    }

    /// The watch delivers the records that exist, then every record any engine writes, in
    /// Hive's order; a watch from a compacted revision says so (the engine then reads again).
    @Test(.enabled(if: HiveKind.etcdEndpoint != nil)) func etcdWatchDeliversEveryWriteInOrder() async throws {
        try await HiveKind.etcd.with { open in
            let writer = try await makeHive(open)
            let before = BlockKey(VolumeName("disk"), BlockID(2))
            #expect(try await writer.compareAndSet(before, expected: nil, new: record(epoch: 1, holder: a)).ok)
            let watcher = try #require(try open() as? EtcdHive)
            let seen = Watched()
            let watch = Task { [watcher] in await watcher.watchLeases { key, record in seen.add(key, record) } }
            defer { watch.cancel() }
            func waitFor(_ count: Int) async -> Bool {
                for _ in 0..<500 {
                    if seen.all.count >= count { return true }
                    try? await Task.sleep(for: .milliseconds(10))
                }
                return false
            }
            #expect(await waitFor(1))
            let key = BlockKey(VolumeName("disk"), BlockID(9))
            var expected: LeaseRecord? = nil
            for epoch in 1...5 {
                let new = record(epoch: UInt64(epoch), holder: epoch % 2 == 0 ? a : b)
                #expect(try await writer.compareAndSet(key, expected: expected, new: new).ok)
                expected = new
            }
            #expect(await waitFor(6))
            let all = seen.all
            #expect(all.first?.0 == before && all.first?.1 == record(epoch: 1, holder: a))
            #expect(all.dropFirst().map(\.0) == Array(repeating: key, count: 5))
            #expect(all.dropFirst().map(\.1.epoch.value) == [1, 2, 3, 4, 5])

            // Compact everything, then watch from revision 1: etcd answers that it is gone.
            let revision = try await watcher.gateway.read([]).revision
            _ = try await watcher.gateway.compact(revision)
            var events: [String] = []
            try await watcher.gateway.watch(prefix: watcher.prefix + "leases/", from: 1) { event in
                if case .compacted = event { events.append("compacted") }
            }
            #expect(events == ["compacted"])
        }
    }
}

/// What a watch delivered, in order.
final class Watched: Sendable {
    private let items = Mutex<[(BlockKey, LeaseRecord)]>([])
    func add(_ key: BlockKey, _ record: LeaseRecord) { items.withLock { $0.append((key, record)) } }
    var all: [(BlockKey, LeaseRecord)] { items.withLock { $0 } }
}
