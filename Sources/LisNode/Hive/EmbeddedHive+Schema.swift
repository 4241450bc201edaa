import Foundation
import GRDB
import LisCore

/// The SQLite schema of `EmbeddedHive` and the mapping between its rows and LisCore's values.
///
/// Unsigned 64-bit numbers (epochs, versions, block indexes) are stored as their bit pattern in
/// SQLite's signed 64-bit INTEGER, so every value round-trips; sizes are kept below 2^63 so
/// they also sort and compare correctly in SQL. Region lists are JSON arrays of names, so a
/// region name may contain any character; a NULL `allowed_regions` means every region.
extension EmbeddedHive {
    /// Schema versions, applied in order and recorded in the file: never edit a released one,
    /// add the next.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE member (
                        node TEXT PRIMARY KEY NOT NULL,
                        region TEXT NOT NULL
                    );
                    CREATE TABLE volume (
                        name TEXT PRIMARY KEY NOT NULL,
                        size_bytes INTEGER NOT NULL,
                        block_size_bytes INTEGER NOT NULL,
                        home TEXT NOT NULL,
                        survive TEXT NOT NULL,
                        allowed_regions TEXT
                    );
                    CREATE TABLE lease (
                        volume TEXT NOT NULL REFERENCES volume(name),
                        block INTEGER NOT NULL,
                        epoch INTEGER NOT NULL,
                        holder TEXT NOT NULL,
                        quorum_regions TEXT NOT NULL,
                        state TEXT NOT NULL,
                        last_active_epoch INTEGER NOT NULL,
                        last_active_holder TEXT NOT NULL,
                        last_active_quorum_regions TEXT NOT NULL,
                        stealer_epoch INTEGER NOT NULL,
                        stealer_version INTEGER NOT NULL,
                        PRIMARY KEY (volume, block)
                    ) WITHOUT ROWID;
                    """)
        }
        // Where peers reach a node; rows keep their rowid, the order nodes registered in.
        migrator.registerMigration("v2") { db in
            try db.execute(sql: "ALTER TABLE member ADD COLUMN address TEXT")
        }
        // How many members each node has seen (a join waits until every member has seen all).
        migrator.registerMigration("v3") { db in
            try db.execute(sql: "ALTER TABLE member ADD COLUMN seen INTEGER NOT NULL DEFAULT 0")
        }
        // Cluster-wide switches an operator sets (`lis policy pause`).
        migrator.registerMigration("v4") { db in
            try db.execute(sql: "CREATE TABLE setting (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID")
        }
        // Where each node's HTTP API answers (the dashboard reads every member's activity).
        migrator.registerMigration("v5") { db in
            try db.execute(sql: "ALTER TABLE member ADD COLUMN http TEXT")
        }
        return migrator
    }()

    // MARK: Statements

    static func run(_ db: Database, _ sql: String, _ values: [DatabaseValue]) throws(HiveError) {
        do {
            try db.execute(sql: sql, arguments: StatementArguments(values))
        } catch {
            throw .storage("\(error)")
        }
    }

    static func fetchAll(_ db: Database, _ sql: String, _ values: [DatabaseValue]) throws(HiveError) -> [Row] {
        do {
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(values))
        } catch {
            throw .storage("\(error)")
        }
    }

    static func region(of node: NodeID, _ db: Database) throws(HiveError) -> RegionID? {
        try fetchAll(db, "SELECT region FROM member WHERE node = ?", [node.name.databaseValue])
            .first.map { row throws(HiveError) in RegionID(try text(row, "region")) }
    }

    static func volume(named name: VolumeName, _ db: Database) throws(HiveError) -> VolumeSpec? {
        try fetchAll(db, "SELECT * FROM volume WHERE name = ?", [name.name.databaseValue])
            .first.map { row throws(HiveError) in try volume(from: row) }
    }

    static func record(_ key: BlockKey, _ db: Database) throws(HiveError) -> LeaseRecord? {
        try fetchAll(
            db, "SELECT * FROM lease WHERE volume = ? AND block = ?",
            [key.volume.name.databaseValue, Int64(bitPattern: key.block.index).databaseValue]
        )
        .first.map { row throws(HiveError) in try record(from: row) }
    }

    // MARK: Values to rows

    /// `name, size_bytes, block_size_bytes, home, survive, allowed_regions`.
    static func arguments(_ volume: VolumeSpec) -> [DatabaseValue] {
        [
            volume.name.name.databaseValue,
            Int64(bitPattern: volume.sizeBytes).databaseValue,
            Int64(bitPattern: volume.blockSizeBytes).databaseValue,
            volume.home.name.databaseValue,
            volume.survive.rawValue.databaseValue,
            volume.allowedRegions.map { encode($0) }.databaseValue,
        ]
    }

    /// The columns of a `lease` row, in table order.
    static func arguments(_ key: BlockKey, _ record: LeaseRecord) -> [DatabaseValue] {
        [
            key.volume.name.databaseValue,
            Int64(bitPattern: key.block.index).databaseValue,
            Int64(bitPattern: record.epoch.value).databaseValue,
            record.holder.name.databaseValue,
            encode(record.quorumRegions).databaseValue,
            record.state.rawValue.databaseValue,
            Int64(bitPattern: record.lastActive.epoch.value).databaseValue,
            record.lastActive.holder.name.databaseValue,
            encode(record.lastActive.quorumRegions).databaseValue,
            Int64(bitPattern: record.stealerPosition.epoch.value).databaseValue,
            Int64(bitPattern: record.stealerPosition.version).databaseValue,
        ]
    }

    // MARK: Rows to values

    static func volume(from row: Row) throws(HiveError) -> VolumeSpec {
        let name = try text(row, "name")
        let surviveText = try text(row, "survive")
        guard let survive = Survival(rawValue: surviveText) else {
            throw corrupt("volume \(name) has an unknown survive value \"\(surviveText)\"")
        }
        let allowed: [RegionID]?
        do {
            allowed = try row.decode(String?.self, forColumn: "allowed_regions").map { json throws(HiveError) in
                try decodeRegions(json, column: "allowed_regions")
            }
        } catch let error as HiveError {
            throw error
        } catch {
            throw corrupt("column allowed_regions: \(error)")
        }
        return VolumeSpec(
            name: VolumeName(name),
            sizeBytes: try unsigned(row, "size_bytes"),
            blockSizeBytes: try unsigned(row, "block_size_bytes"),
            home: RegionID(try text(row, "home")),
            survive: survive,
            allowedRegions: allowed)
    }

    static func record(from row: Row) throws(HiveError) -> LeaseRecord {
        let stateText = try text(row, "state")
        guard let state = LeaseState(rawValue: stateText) else {
            throw corrupt("a lease has an unknown state \"\(stateText)\"")
        }
        return LeaseRecord(
            epoch: Epoch(try unsigned(row, "epoch")),
            holder: NodeID(try text(row, "holder")),
            quorumRegions: try decodeRegions(try text(row, "quorum_regions"), column: "quorum_regions"),
            state: state,
            lastActive: ActiveTerm(
                epoch: Epoch(try unsigned(row, "last_active_epoch")),
                holder: NodeID(try text(row, "last_active_holder")),
                quorumRegions: try decodeRegions(
                    try text(row, "last_active_quorum_regions"), column: "last_active_quorum_regions")),
            stealerPosition: LogPosition(
                epoch: Epoch(try unsigned(row, "stealer_epoch")),
                version: try unsigned(row, "stealer_version")))
    }

    // MARK: Columns

    static func text(_ row: Row, _ column: String) throws(HiveError) -> String {
        do {
            return try row.decode(String.self, forColumn: column)
        } catch {
            throw corrupt("column \(column): \(error)")
        }
    }

    static func unsigned(_ row: Row, _ column: String) throws(HiveError) -> UInt64 {
        do {
            return UInt64(bitPattern: try row.decode(Int64.self, forColumn: column))
        } catch {
            throw corrupt("column \(column): \(error)")
        }
    }

    private static func encode(_ regions: [RegionID]) -> String {
        // Encoding an array of strings cannot fail.
        let data = try! JSONEncoder().encode(regions.map(\.name))
        return String(decoding: data, as: UTF8.self)
    }

    private static func decodeRegions(_ json: String, column: String) throws(HiveError) -> [RegionID] {
        do {
            return try JSONDecoder().decode([String].self, from: Data(json.utf8)).map(RegionID.init)
        } catch {
            throw corrupt("column \(column) is not a JSON array of region names: \(json)")
        }
    }

    private static func corrupt(_ message: String) -> HiveError {
        .storage("the Hive file is damaged: \(message)")
    }
}
