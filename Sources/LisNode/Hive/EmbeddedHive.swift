import Foundation
import GRDB
import LisCore

/// Hive in one SQLite file (`<data_dir>/hive.sqlite`): the engine of a single-machine cluster.
///
/// Linearizable because every call runs as one transaction on GRDB's serial writer queue (reads
/// too, so a read never overtakes a write that returned before it began); durable because a
/// call returns only after its transaction commits and is synced. The file is in WAL mode, so a
/// commit costs one sequential append and one fsync; `synchronous = FULL`, not the NORMAL that
/// GRDB picks for WAL, because under NORMAL a power cut may undo the last commits, and an undone
/// lease swap could leave two nodes each believing it holds a block. GRDB's async `read`/`write`
/// run the SQL on GRDB's own dispatch queue, so no caller's thread (and no event loop) blocks on
/// the disk.
///
/// One process only: the file is this node's, like its block files.
public final class EmbeddedHive: HiveEngine {
    /// Sendable: GRDB serialises every access to the connection on its own queue. Internal so
    /// tests can check the file's settings.
    let database: DatabaseQueue

    /// Opens (creating if needed) the Hive file at `path` and brings its schema up to date.
    public init(path: String) throws(HiveError) {
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.foreignKeysEnabled = true
        // Another process holding the file is an operator error; say so within a few seconds
        // rather than fail at once on a passing checkpoint.
        configuration.busyMode = .timeout(5)
        configuration.label = "lis.hive"
        do {
            database = try DatabaseQueue(path: path, configuration: configuration)
            // After GRDB's WAL setup, which sets NORMAL; the connection keeps it for its life.
            try database.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
            try Self.migrator.migrate(database)
        } catch {
            throw .storage("cannot open \(path): \(error)")
        }
    }

    public func register(_ member: HiveMember) async throws(HiveError) {
        try await write { db throws(HiveError) in
            if let region = try Self.region(of: member.node, db) {
                if region == member.region {
                    try Self.run(db, "UPDATE member SET address = ?, http = ? WHERE node = ?",
                        [member.address.databaseValue, member.http.databaseValue, member.node.name.databaseValue])
                    return
                }
                throw .invalid(
                    "node \(member.node) is a member of region \(region) and cannot move to region "
                        + "\(member.region); give the node a new id (or a new data dir) instead")
            }
            let lagging = try Self.fetchAll(
                db, "SELECT node FROM member WHERE seen < (SELECT COUNT(*) FROM member) ORDER BY rowid LIMIT 1", [])
            if let row = lagging.first {
                throw .retryLater(
                    "node \(member.node) waits to join: member \(try Self.text(row, "node")) has not yet seen every node "
                        + "that joined before it")
            }
            try Self.run(db, "INSERT INTO member (node, region, address, http) VALUES (?, ?, ?, ?)",
                [member.node.name.databaseValue, member.region.name.databaseValue, member.address.databaseValue,
                 member.http.databaseValue])
        }
    }

    public func acknowledgeMembers(_ node: NodeID, count: Int) async throws(HiveError) {
        try await write { db throws(HiveError) in
            try Self.run(db, "UPDATE member SET seen = MAX(seen, ?) WHERE node = ?", [count.databaseValue, node.name.databaseValue])
        }
    }

    public func members() async throws(HiveError) -> [HiveMember] {
        try await read { db throws(HiveError) in
            try Self.fetchAll(db, "SELECT node, region, address, http FROM member ORDER BY rowid", []).map { row throws(HiveError) in
                HiveMember(
                    node: NodeID(try Self.text(row, "node")), region: RegionID(try Self.text(row, "region")),
                    address: row["address"], http: row["http"])
            }
        }
    }

    public func volumes() async throws(HiveError) -> [VolumeSpec] {
        try await read { db throws(HiveError) in
            try Self.fetchAll(db, "SELECT * FROM volume ORDER BY name", []).map { row throws(HiveError) in
                try Self.volume(from: row)
            }
        }
    }

    public func placementPaused() async throws(HiveError) -> Bool {
        try await read { db throws(HiveError) in
            let row = try Self.fetchAll(db, "SELECT value FROM setting WHERE name = 'placement_paused'", []).first
            return row.map { ($0["value"] as String?) == "true" } ?? false
        }
    }

    public func setPlacementPaused(_ paused: Bool) async throws(HiveError) {
        try await write { db throws(HiveError) in
            try Self.run(
                db, "INSERT OR REPLACE INTO setting (name, value) VALUES ('placement_paused', ?)",
                [(paused ? "true" : "false").databaseValue])
        }
    }

    public func drainedNodes() async throws(HiveError) -> Set<NodeID> {
        try await read { db throws(HiveError) in
            Set(try Self.fetchAll(db, "SELECT name FROM setting WHERE name LIKE 'drained:%'", []).map { row throws(HiveError) in
                NodeID(String(try Self.text(row, "name").dropFirst("drained:".count)))
            })
        }
    }

    public func setDrained(_ node: NodeID, _ drained: Bool) async throws(HiveError) {
        try await write { db throws(HiveError) in
            if drained {
                try Self.run(db, "INSERT OR REPLACE INTO setting (name, value) VALUES (?, 'true')", [("drained:" + node.name).databaseValue])
            } else {
                try Self.run(db, "DELETE FROM setting WHERE name = ?", [("drained:" + node.name).databaseValue])
            }
        }
    }

    public func createVolume(_ volume: VolumeSpec) async throws(HiveError) {
        try HiveChecks.check(volume)
        try await write { db throws(HiveError) in
            if try Self.volume(named: volume.name, db) != nil { throw .volumeExists(volume.name) }
            try Self.run(
                db,
                """
                INSERT INTO volume (name, size_bytes, block_size_bytes, home, survive, allowed_regions)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                Self.arguments(volume))
        }
    }

    public func updateVolume(_ volume: VolumeSpec) async throws(HiveError) {
        try HiveChecks.check(volume)
        try await write { db throws(HiveError) in
            guard let old = try Self.volume(named: volume.name, db) else { throw .noSuchVolume(volume.name) }
            try HiveChecks.checkUpdate(from: old, to: volume)
            // Pinning holds for records already written too: a narrower allowed list must still
            // allow every current holder (move those blocks first).
            if volume.allowedRegions != nil {
                let holders = try Self.fetchAll(
                    db,
                    "SELECT DISTINCT member.region FROM lease JOIN member ON member.node = lease.holder "
                        + "WHERE lease.volume = ? ORDER BY member.region",
                    [volume.name.name.databaseValue])
                for row in holders {
                    let region = RegionID(try Self.text(row, "region"))
                    if !volume.allows(region) { throw .pinned(volume.name, region) }
                }
            }
            // An UPDATE, not INSERT OR REPLACE: a replace deletes the row first, which would
            // trip the lease table's reference to it.
            var arguments = Array(Self.arguments(volume).dropFirst())
            arguments.append(volume.name.name.databaseValue)
            try Self.run(
                db,
                """
                UPDATE volume SET size_bytes = ?, block_size_bytes = ?, home = ?, survive = ?, allowed_regions = ?
                WHERE name = ?
                """,
                arguments)
        }
    }

    public func deleteVolume(_ name: VolumeName) async throws(HiveError) {
        try await write { db throws(HiveError) in
            guard try Self.volume(named: name, db) != nil else { throw .noSuchVolume(name) }
            try Self.run(db, "DELETE FROM lease WHERE volume = ?", [name.name.databaseValue])
            try Self.run(db, "DELETE FROM volume WHERE name = ?", [name.name.databaseValue])
        }
    }

    public func get(_ key: BlockKey) async throws(HiveError) -> LeaseRecord? {
        try await read { db throws(HiveError) in try Self.record(key, db) }
    }

    public func compareAndSet(_ key: BlockKey, expected: LeaseRecord?, new: LeaseRecord) async throws(HiveError)
        -> (ok: Bool, current: LeaseRecord?)
    {
        try await write { db throws(HiveError) in
            guard let volume = try Self.volume(named: key.volume, db) else { throw .noSuchVolume(key.volume) }
            if key.block.index >= volume.blockCount {
                throw .invalid(
                    "block \(key.block) is past the end of volume \(key.volume), which has \(volume.blockCount) blocks")
            }
            guard let region = try Self.region(of: new.holder, db) else {
                throw .invalid("holder \(new.holder) of \(key) is not a member; register the node first")
            }
            if !volume.allows(region) { throw .pinned(key.volume, region) }
            let current = try Self.record(key, db)
            guard current == expected else { return (false, current) }
            try Self.run(
                db,
                """
                INSERT OR REPLACE INTO lease (volume, block, epoch, holder, quorum_regions, state,
                    last_active_epoch, last_active_holder, last_active_quorum_regions,
                    stealer_epoch, stealer_version)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                Self.arguments(key, new))
            return (true, new)
        }
    }

    public func records(of volume: VolumeName) async throws(HiveError) -> [(BlockKey, LeaseRecord)] {
        try await read { db throws(HiveError) in
            guard try Self.volume(named: volume, db) != nil else { throw .noSuchVolume(volume) }
            return try Self.fetchAll(db, "SELECT * FROM lease WHERE volume = ? ORDER BY block", [volume.name.databaseValue])
                .map { row throws(HiveError) in
                    let record = try Self.record(from: row)
                    return (BlockKey(volume, BlockID(try Self.unsigned(row, "block"))), record)
                }
        }
    }

    // MARK: Running calls

    /// Runs `body` as one write transaction on GRDB's writer queue; any error rolls it back.
    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws(HiveError) -> T)
        async throws(HiveError) -> T
    {
        do {
            return try await database.write { db in try body(db) }
        } catch let error as HiveError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    /// Runs `body` as one read transaction, serialised with the writes (a `DatabaseQueue` has
    /// one connection), so a read sees every write that returned before it started.
    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws(HiveError) -> T)
        async throws(HiveError) -> T
    {
        do {
            return try await database.read { db in try body(db) }
        } catch let error as HiveError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }
}
