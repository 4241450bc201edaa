import LisCore
import TOMLKit
import Testing

/// The error `LisConfig.parse` throws for `toml`, or nil if it parses.
private func configError(_ toml: String) -> ConfigError? {
    do {
        _ = try LisConfig.parse(toml: toml)
        return nil
    } catch {
        return error
    }
}

private func tiers(_ pairs: [(Double, Int)]) -> [MigrationTier] {
    pairs.map { MigrationTier(minFactor: $0.0, slowWrites: $0.1) }
}

@Suite struct ConfigDefaultsTests {
    @Test func emptyFileGivesDefaults() throws {
        let config = try LisConfig.parse(toml: "")
        #expect(config == LisConfig())
        #expect(config.node.id == nil)
        #expect(config.node.region == RegionID("local"))
        #expect(config.node.dataDir == "./lis-data")
        #expect(config.node.nbdSocket == nil)
        #expect(config.node.nbdAddress == "127.0.0.1:10809")
        #expect(config.node.httpAddress == "127.0.0.1:7780")
        #expect(config.volume.blockSizeBytes == 1 << 20)
        #expect(config.volume.survive == .node)
        #expect(config.migration.minLatencyFactor == 2.0)
        #expect(config.migration.slowWriteThreshold == 5)
        #expect(config.migration.migrationCooldownMs == 30_000)
        #expect(config.migration.maxConcurrentMigrations == 100)
        #expect(config.migration.predictiveMigration)
        #expect(config.migration.explicitTiers == nil)
        #expect(config.policy.name == .tiers)
        #expect(config.policy.localLatencyFloorMs == 0.05)
        #expect(config.policy.slowWriteWindowMs == 60_000)
    }

    @Test func emptySectionsGiveDefaults() throws {
        #expect(try LisConfig.parse(toml: "[node]\n[volume]\n[migration]\n[policy]\n") == LisConfig())
    }

    @Test func seedMigrationBlockParsesToTheSeedTable() throws {
        let seed = """
            [migration]
            min_latency_factor = 2.0
            slow_write_threshold = 5
            migration_cooldown_ms = 30000
            max_concurrent_migrations = 100
            predictive_migration = true
            """
        let config = try LisConfig.parse(toml: seed)
        #expect(config.migration == MigrationConfig())
        #expect(config.migration.tiers == tiers([(10, 3), (5, 5), (2, 10)]))
    }

    @Test func everyKeyIsRead() throws {
        let toml = """
            [node]
            id = "nyc-1"
            region = "nyc"
            data_dir = "/var/lib/lis"
            nbd_socket = "/run/lis/nbd.sock"
            nbd_address = "[::1]:10810"
            http_address = "0.0.0.0:9380"

            [volume]
            block_size = "64KiB"
            survive = "region"

            [migration]
            min_latency_factor = 3
            slow_write_threshold = 4
            migration_cooldown_ms = 1500.5
            max_concurrent_migrations = 8
            predictive_migration = false

            [policy]
            name = "tiers"
            local_latency_floor_ms = 0.2
            slow_write_window_ms = 5000
            """
        let config = try LisConfig.parse(toml: toml)
        #expect(config.node.id == NodeID("nyc-1"))
        #expect(config.node.region == RegionID("nyc"))
        #expect(config.node.dataDir == "/var/lib/lis")
        #expect(config.node.nbdSocket == "/run/lis/nbd.sock")
        #expect(config.node.nbdAddress == "[::1]:10810")
        #expect(config.node.httpAddress == "0.0.0.0:9380")
        #expect(config.volume.blockSizeBytes == 64 << 10)
        #expect(config.volume.survive == .region)
        #expect(config.migration.minLatencyFactor == 3)
        #expect(config.migration.slowWriteThreshold == 4)
        #expect(config.migration.migrationCooldownMs == 1500.5)
        #expect(config.migration.maxConcurrentMigrations == 8)
        #expect(!config.migration.predictiveMigration)
        #expect(config.policy.localLatencyFloorMs == 0.2)
        #expect(config.policy.slowWriteWindowMs == 5000)
    }

    @Test(arguments: [
        ("block_size = 65536", 65536),
        ("block_size = 67108864", 64 << 20),
        ("block_size = \"1M\"", 1 << 20),
        ("block_size = \"64 MiB\"", 64 << 20),
        ("block_size = \"0.5MiB\"", 512 << 10),
    ] as [(String, UInt64)])
    func blockSizeTakesBytesOrSizeStrings(line: String, bytes: UInt64) throws {
        #expect(try LisConfig.parse(toml: "[volume]\n\(line)").volume.blockSizeBytes == bytes)
    }
}

@Suite struct ConfigMigrationTierTests {
    private func migration(_ body: String) throws -> MigrationConfig {
        try LisConfig.parse(toml: "[migration]\n\(body)").migration
    }

    @Test func derivedTiersScaleWithTheThreshold() throws {
        #expect(try migration("slow_write_threshold = 10").tiers == tiers([(10, 6), (5, 10), (2, 20)]))
        #expect(try migration("slow_write_threshold = 1").tiers == tiers([(10, 1), (5, 1), (2, 2)]))
        #expect(try migration("slow_write_threshold = 7").tiers == tiers([(10, 5), (5, 7), (2, 14)]))
    }

    @Test func minLatencyFactorIsTheFloorOfTheDerivedTable() throws {
        #expect(try migration("min_latency_factor = 1").tiers == tiers([(10, 3), (5, 5), (1, 10)]))
        #expect(try migration("min_latency_factor = 3.5").tiers == tiers([(10, 3), (5, 5), (3.5, 10)]))
        // At or above 5 the 2×-threshold tier lies wholly below the floor and vanishes; the
        // 5× tier's count then starts at the floor, leaving no factor above it unhandled.
        #expect(try migration("min_latency_factor = 5").tiers == tiers([(10, 3), (5, 5)]))
        #expect(try migration("min_latency_factor = 6").tiers == tiers([(10, 3), (6, 5)]))
        #expect(try migration("min_latency_factor = 10").tiers == tiers([(10, 3)]))
        #expect(try migration("min_latency_factor = 12").tiers == tiers([(12, 3)]))
    }

    @Test func explicitTiersReplaceTheDerivedTable() throws {
        let m = try migration(
            """
            slow_write_threshold = 50
            [[migration.tier]]
            min_factor = 3
            slow_writes = 8
            [[migration.tier]]
            min_factor = 20.0
            slow_writes = 1
            [[migration.tier]]
            min_factor = 8.5
            slow_writes = 4
            """)
        // Kept in file order; `tiers` sorts.
        #expect(m.explicitTiers == tiers([(3, 8), (20, 1), (8.5, 4)]))
        #expect(m.tiers == tiers([(20, 1), (8.5, 4), (3, 8)]))
    }

    @Test func explicitTiersAreClippedToTheFloor() throws {
        let body = """
            min_latency_factor = 4
            [[migration.tier]]
            min_factor = 10
            slow_writes = 2
            [[migration.tier]]
            min_factor = 3
            slow_writes = 6
            [[migration.tier]]
            min_factor = 1.5
            slow_writes = 12
            """
        #expect(try migration(body).tiers == tiers([(10, 2), (4, 6)]))
    }

    @Test func explicitTiersAboveTheFloorLeaveLowFactorsAlone() throws {
        let body = """
            [[migration.tier]]
            min_factor = 10
            slow_writes = 2
            """
        #expect(try migration(body).tiers == tiers([(10, 2)]))
    }

    @Test func inlineArrayOfTablesWorksToo() throws {
        let m = try migration("tier = [{ min_factor = 4, slow_writes = 2 }]")
        #expect(m.tiers == tiers([(4, 2)]))
    }

    @Test func scenarioFilesReuseTheMigrationParser() throws {
        let table = try TOMLTable(string: "min_latency_factor = 4\nslow_write_threshold = 2")
        let m = try MigrationConfig.parse(table, path: "scenario.migration")
        #expect(m.minLatencyFactor == 4)
        #expect(m.slowWriteThreshold == 2)

        let bad = try TOMLTable(string: "min_latency_factor = 0")
        let expected = ConfigError(
            key: "scenario.migration.min_latency_factor", message: "must be a number >= 1.0, got 0")
        #expect(throws: expected) {
            try MigrationConfig.parse(bad, path: "scenario.migration")
        }
    }

    @Test func policyTableIsReusableToo() throws {
        let table = try TOMLTable(string: "slow_write_window_ms = 100")
        #expect(try PolicyConfig.parse(table, path: "policy").slowWriteWindowMs == 100)
    }
}

@Suite struct ConfigErrorTests {
    @Test func theDesignDocExampleReadsAsWritten() {
        let error = configError("[migration]\nmin_latency_factor = 0.5")
        #expect(error?.key == "migration.min_latency_factor")
        #expect(error?.line == nil)
        #expect(error?.description == "config: migration.min_latency_factor must be a number >= 1.0, got 0.5")
    }

    @Test func unknownSectionListsTheSections() {
        let error = configError("[nodes]\nid = \"a\"")
        #expect(error?.key == "nodes")
        #expect(error?.description == "config: nodes is not a known section; allowed: node, volume, migration, policy, hive, cluster, wan")
    }

    @Test func hiveSectionChoosesTheEngine() throws {
        #expect(try LisConfig.parse(toml: "").hive == HiveConfig())
        #expect(HiveConfig().engine == .embedded)
        let etcd = try LisConfig.parse(
            toml: "[hive]\nengine = \"etcd\"\nendpoints = [\"http://10.0.0.1:2379\", \"http://10.0.0.2:2379\"]\nprefix = \"/prod/\"")
        #expect(etcd.hive.engine == .etcd)
        #expect(etcd.hive.endpoints == ["http://10.0.0.1:2379", "http://10.0.0.2:2379"])
        #expect(etcd.hive.prefix == "/prod/")
        #expect(try LisConfig.parse(toml: "[hive]\nengine = \"etcd\"").hive.endpoints == ["http://127.0.0.1:2379"])
        for (toml, key) in [
            ("[hive]\nengine = \"zookeeper\"", "hive.engine"),
            ("[hive]\nengine = \"etcd\"\nendpoints = []", "hive.endpoints"),
            ("[hive]\nengine = \"etcd\"\nendpoints = [\"127.0.0.1:2379\"]", "hive.endpoints"),
            ("[hive]\nengine = \"etcd\"\nendpoints = \"http://127.0.0.1:2379\"", "hive.endpoints"),
            ("[hive]\nengine = \"etcd\"\nprefix = \"lis\"", "hive.prefix"),
            ("[hive]\nendpoints = [\"http://127.0.0.1:2379\"]", "hive.engine"),
            ("[hive]\nhost = \"x\"", "hive.host"),
        ] {
            #expect(configError(toml)?.key == key, "\(toml)")
        }
    }

    @Test func clusterSectionNamesThePeerAddressAndSecret() throws {
        #expect(try LisConfig.parse(toml: "").cluster == ClusterConfig())
        let c = try LisConfig.parse(
            toml: "[cluster]\nname = \"prod\"\npeer_address = \"10.0.0.1:7781\"\nsecret_file = \"/etc/lis/secret\"").cluster
        #expect(c.name == "prod" && c.peerAddress == "10.0.0.1:7781" && c.secretFile == "/etc/lis/secret")
        #expect(configError("[cluster]\npeer_address = \"10.0.0.1:7781\"")?.key == "cluster.secret_file")
        #expect(configError("[cluster]\npeer_address = \"0.0.0.0:7781\"\nsecret_file = \"s\"")?.key == "cluster.peer_address")
        #expect(configError("[cluster]\npeer_address = \"nowhere\"\nsecret_file = \"s\"")?.key == "cluster.peer_address")
        let discovering = try LisConfig.parse(
            toml: "[cluster]\npeer_address = \"10.0.0.1:7781\"\nsecret_file = \"s\"\ndiscovery = true\ndiscovery_port = 7999").cluster
        #expect(discovering.discovery && discovering.discoveryPort == 7999)
        #expect(c.discoveryPort == 7790 && !c.discovery)
        #expect(configError("[cluster]\ndiscovery = true")?.key == "cluster.peer_address")
        let joining = try LisConfig.parse(
            toml: "[cluster]\npeer_address = \"10.0.0.2:7781\"\nsecret_file = \"s\"\nauto_discover = true\njoin = [\"10.0.0.1:7790\"]").cluster
        #expect(joining.autoDiscover && joining.join == ["10.0.0.1:7790"] && !c.autoDiscover && c.join.isEmpty)
        #expect(configError("[cluster]\nauto_discover = true")?.key == "cluster.peer_address")
        #expect(configError("[cluster]\npeer_address = \"10.0.0.2:7781\"\nsecret_file = \"s\"\njoin = [\"nowhere\"]")?.key == "cluster.join")
        #expect(try LisConfig.parse(toml: "[node]\nnbd_address = \"none\"").node.nbdAddress == nil)
        #expect(configError("[node]\nnbd_address = \"nope\"")?.key == "node.nbd_address")
        #expect(configError("[cluster]\npeer_address = \"10.0.0.1:7781\"\nsecret_file = \"s\"\ndiscovery_port = 0")?.key == "cluster.discovery_port")
        #expect(try LisConfig.parse(toml: "[wan]\ntopology = \"topology/regions.toml\"").wanTopology == "topology/regions.toml")
        #expect(configError("[wan]\nrtt = 5")?.key == "wan.rtt")
        #expect(try LisConfig.parse(toml: "[wan]\ntopology = \"t.toml\"\nhive_region = \"nyc\"").wanHiveRegion == RegionID("nyc"))
        #expect(configError("[wan]\nhive_region = \"nyc\"")?.key == "wan.topology")
    }

    @Test func unknownTopLevelKeyIsAnError() {
        #expect(configError("region = \"nyc\"")?.key == "region")
    }

    @Test func unknownKeyNamesTheFullKeyAndListsTheAllowedOnes() {
        let error = configError("[migration]\nslow_write_treshold = 5")
        #expect(error?.key == "migration.slow_write_treshold")
        #expect(
            error?.description
                == "config: migration.slow_write_treshold is not a known key; allowed: min_latency_factor, "
                + "slow_write_threshold, migration_cooldown_ms, max_concurrent_migrations, predictive_migration, tier")
    }

    @Test(arguments: [
        ("[node]\nport = 1", "node.port", "id, region, data_dir"),
        ("[volume]\nsize = 1", "volume.size", "block_size, survive"),
        ("[policy]\nhorizon_ms = 1", "policy.horizon_ms", "name, local_latency_floor_ms"),
        ("[migration]\n[migration.extra]\nx = 1", "migration.extra", "predictive_migration, tier"),
        ("[[migration.tier]]\nmin_factor = 10\nslow_writes = 3\nspeed = 1", "migration.tier[0].speed",
         "min_factor, slow_writes"),
    ])
    func unknownKeysInEverySection(toml: String, key: String, allowed: String) {
        let error = configError(toml)
        #expect(error?.key == key)
        #expect(error?.message.contains(allowed) == true, "\(String(describing: error))")
    }

    @Test(arguments: [
        // Wrong types.
        ("[migration]\nmin_latency_factor = \"2\"", "migration.min_latency_factor",
         #"must be a number >= 1.0, got "2""#),
        ("[migration]\nslow_write_threshold = 5.0", "migration.slow_write_threshold",
         "must be an integer from 1 to 1000000, got 5.0"),
        ("[migration]\npredictive_migration = \"yes\"", "migration.predictive_migration",
         #"must be true or false, got "yes""#),
        ("[migration]\nmax_concurrent_migrations = [1]", "migration.max_concurrent_migrations",
         "must be an integer >= 1, got an array"),
        ("[migration]\nmigration_cooldown_ms = 1979-05-27", "migration.migration_cooldown_ms",
         "must be a number of milliseconds >= 0, got a date"),
        ("migration = 5", "migration", "must be a table ([migration]), got 5"),
        ("[migration]\ntier = 5", "migration.tier", "must be an array of tables ([[migration.tier]]), got 5"),
        ("[migration]\ntier = [5]", "migration.tier[0]", "must be a table, got 5"),
        ("[node]\nregion = 5", "node.region", "must be a name of 1 to 64 letters"),
        ("[volume]\nblock_size = true", "volume.block_size",
         #"must be a number of bytes or a size such as "1MiB", got true"#),
        // Out of range.
        ("[migration]\nmin_latency_factor = 0.99", "migration.min_latency_factor", "got 0.99"),
        ("[migration]\nmin_latency_factor = inf", "migration.min_latency_factor", "got inf"),
        ("[migration]\nmin_latency_factor = nan", "migration.min_latency_factor", "got nan"),
        ("[migration]\nslow_write_threshold = 0", "migration.slow_write_threshold", "got 0"),
        ("[migration]\nslow_write_threshold = 1000001", "migration.slow_write_threshold", "got 1000001"),
        ("[migration]\nmigration_cooldown_ms = -1", "migration.migration_cooldown_ms", "got -1"),
        ("[migration]\nmax_concurrent_migrations = 0", "migration.max_concurrent_migrations", "got 0"),
        ("[policy]\nname = \"fastest\"", "policy.name", #"must be one of "static", "tiers", "crdb-ftw", "wpaxos-consecutive", "wpaxos-majority", "adaptive", "oracle", got "fastest""#),
        ("[policy]\nname = \"oracle\"", "policy.name", "only the simulator runs it"),
        ("[policy]\nlocal_latency_floor_ms = 0", "policy.local_latency_floor_ms", "> 0, got 0"),
        ("[policy]\nslow_write_window_ms = -5.5", "policy.slow_write_window_ms", "> 0, got -5.5"),
        ("[node]\nid = \"\"", "node.id", #"got """#),
        ("[node]\nregion = \"new york\"", "node.region", #"got "new york""#),
        ("[node]\nregion = \"-nyc\"", "node.region", #"got "-nyc""#),
        ("[node]\ndata_dir = \"\"", "node.data_dir", "must be a non-empty path"),
        ("[node]\nnbd_socket = \"\"", "node.nbd_socket", "must be a non-empty path"),
        ("[node]\nnbd_address = \"localhost\"", "node.nbd_address", "no port"),
        ("[node]\nnbd_address = \":10809\"", "node.nbd_address", "no host"),
        ("[node]\nnbd_address = \"::1:10809\"", "node.nbd_address", "needs brackets"),
        ("[node]\nnbd_address = \"[::1:10809\"", "node.nbd_address", "unbalanced brackets"),
        ("[node]\nhttp_address = \"127.0.0.1:0\"", "node.http_address", "port must be a number from 1 to 65535"),
        ("[node]\nhttp_address = \"127.0.0.1:65536\"", "node.http_address", "port"),
        ("[node]\nhttp_address = \"127.0.0.1:+80\"", "node.http_address", "port"),
        ("[volume]\nblock_size = 1000", "volume.block_size",
         "must be a power of two from 64KiB to 64MiB, got 1000"),
        ("[volume]\nblock_size = \"32K\"", "volume.block_size", #"got "32K""#),
        ("[volume]\nblock_size = \"128MiB\"", "volume.block_size", #"got "128MiB""#),
        ("[volume]\nblock_size = \"96KiB\"", "volume.block_size", #"got "96KiB""#),
        ("[volume]\nblock_size = -65536", "volume.block_size", "got -65536"),
        ("[volume]\nblock_size = \"1X\"", "volume.block_size", #"got "1X": unknown unit "X"; use a number of bytes"#),
        ("[volume]\nsurvive = \"zone\"", "volume.survive", #"must be one of "node", "region", got "zone""#),
    ])
    func badValuesNameTheKeyTheFormAndTheValue(toml: String, key: String, fragment: String) {
        let error = configError(toml)
        #expect(error?.key == key, "\(String(describing: error))")
        #expect(error?.message.contains(fragment) == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("config: \(key) ") == true)
    }

    @Test(arguments: [
        ("[[migration.tier]]\nslow_writes = 3", "migration.tier[0].min_factor",
         "is missing; it must be a number >= 1.0"),
        ("[[migration.tier]]\nmin_factor = 3", "migration.tier[0].slow_writes", "is missing"),
        ("[[migration.tier]]\nmin_factor = 0.5\nslow_writes = 3", "migration.tier[0].min_factor", "got 0.5"),
        ("[[migration.tier]]\nmin_factor = 2\nslow_writes = 0", "migration.tier[0].slow_writes", "got 0"),
        ("[migration]\ntier = []", "migration.tier", "at least one [[migration.tier]]"),
        (
            "[[migration.tier]]\nmin_factor = 10\nslow_writes = 3\n"
                + "[[migration.tier]]\nmin_factor = 5\nslow_writes = 5\n"
                + "[[migration.tier]]\nmin_factor = 10.0\nslow_writes = 1",
            "migration.tier[2].min_factor", "must differ between tiers, but migration.tier[0] also has 10.0"
        ),
    ])
    func badTierTables(toml: String, key: String, fragment: String) {
        let error = configError(toml)
        #expect(error?.key == key, "\(String(describing: error))")
        #expect(error?.message.contains(fragment) == true, "\(String(describing: error))")
    }

    /// The policies' tunables are read from `[policy.crdb_ftw]`, `[policy.wpaxos]` and
    /// `[policy.adaptive]`; what is left out keeps its default.
    @Test func policyTunablesAreSettable() throws {
        let config = try LisConfig.parse(toml: """
            [policy]
            name = "adaptive"
            [policy.adaptive]
            horizon_ms = 30000
            margin = 3
            fresh_touches = 128
            [policy.crdb_ftw]
            threshold = 0.2
            [policy.wpaxos]
            run = 5
            """)
        var expected = PolicySettings()
        expected.adaptive.horizonMs = 30_000
        expected.adaptive.margin = 3
        expected.adaptive.freshTouches = 128
        expected.crdbFtw.threshold = 0.2
        expected.wpaxos.run = 5
        #expect(config.policy.settings == expected)
    }

    @Test(arguments: [
        ("[policy.adaptive]\nhorizon = 1", "policy.adaptive.horizon", "short_half_life_ms, long_half_life_ms, horizon_ms"),
        ("[policy.adaptive]\nimprovement = 1.5", "policy.adaptive.improvement", "must be a number above 0 and at most 1, got 1.5"),
        ("[policy.adaptive]\nshort_half_life_ms = 50000\nlong_half_life_ms = 40000", "policy.adaptive.long_half_life_ms",
         "must be at least short_half_life_ms"),
        ("[policy.crdb_ftw]\ndecay = 0", "policy.crdb_ftw.decay", "must be a number above 0 and at most 1, got 0"),
        ("[policy.wpaxos]\nrun = 0", "policy.wpaxos.run", "must be an integer from 1 to 1000000, got 0"),
    ])
    func badPolicyTunablesNameTheirKey(toml: String, key: String, message: String) {
        let error = configError(toml)
        #expect(error?.key == key)
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test(arguments: [
        ("[migration]\nmin_latency_factor = 2.0\nslow_write_threshold = \n", 3),
        ("[migration]\nmin_latency_factor = 2.0\nmin_latency_factor = 3.0\n", 3),
        ("\n\n\n\n[migration\n", 5),
        ("x = 1 = 2", 1),
    ])
    func syntaxErrorsCarryTheirLine(toml: String, line: Int) {
        let error = configError(toml)
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.key == nil)
        #expect(error?.description.hasPrefix("config: line \(line): ") == true)
    }
}
