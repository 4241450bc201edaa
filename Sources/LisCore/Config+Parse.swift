import TOMLKit

// Reading `lis.toml` and the seed's `[migration]` section. Every key is checked by name,
// type and range, and an error names the full dotted key, what is allowed and what was
// written, so a user can fix the file from the message alone.

extension LisConfig {
    /// Parses the text of `lis.toml`. Missing sections and keys take their defaults, so `""`
    /// gives `LisConfig()`.
    public static func parse(toml: String) throws(ConfigError) -> LisConfig {
        let root = TOMLReader(try TOMLReader.document(toml), path: "")
        try root.rejectUnknownKeys(allowed: ["node", "volume", "migration", "policy", "hive", "cluster", "wan"])
        var config = LisConfig()
        if let node = try root.table("node") { config.node = try NodeConfig.parse(node) }
        if let volume = try root.table("volume") { config.volume = try VolumeDefaults.parse(volume) }
        if let migration = try root.table("migration") { config.migration = try MigrationConfig.parse(migration) }
        if let policy = try root.table("policy") { config.policy = try PolicyConfig.parse(policy) }
        if let hive = try root.table("hive") { config.hive = try HiveConfig.parse(hive) }
        if let cluster = try root.table("cluster") { config.cluster = try ClusterConfig.parse(cluster) }
        if let wan = try root.table("wan") {
            try wan.rejectUnknownKeys(allowed: ["topology", "hive_region", "bandwidth_mbit"])
            config.wanTopology = try wan.path("topology")
            config.wanHiveRegion = try wan.name("hive_region").map(RegionID.init)
            config.wanBandwidthMbit = try wan.positive("bandwidth_mbit")
            if config.wanBandwidthMbit != nil && config.wanTopology == nil {
                throw wan.missing("topology", "the round-trip file whose links bandwidth_mbit paces")
            }
            if config.wanHiveRegion != nil && config.wanTopology == nil {
                throw wan.missing("topology", "the round-trip file that also names hive_region's region")
            }
        }
        if config.policy.name == .oracle {
            throw ConfigError(
                key: "policy.name",
                message: "\"oracle\" needs the whole workload in advance; only the simulator runs it (`lis sim run --policy oracle`)")
        }
        return config
    }
}

extension NodeConfig {
    static func parse(_ r: TOMLReader) throws(ConfigError) -> NodeConfig {
        try r.rejectUnknownKeys(allowed: ["id", "region", "data_dir", "nbd_socket", "nbd_address", "http_address"])
        var node = NodeConfig()
        node.id = try r.name("id").map(NodeID.init)
        node.region = try r.name("region").map(RegionID.init) ?? node.region
        node.dataDir = try r.path("data_dir") ?? node.dataDir
        node.nbdSocket = try r.path("nbd_socket")
        // "none" serves NBD on the unix socket alone, as `--nbd-address none` does.
        if r.table["nbd_address"]?.string == "none" {
            node.nbdAddress = nil
        } else {
            node.nbdAddress = try r.address("nbd_address") ?? node.nbdAddress
        }
        node.httpAddress = try r.address("http_address") ?? node.httpAddress
        return node
    }
}

extension ClusterConfig {
    static func parse(_ r: TOMLReader) throws(ConfigError) -> ClusterConfig {
        try r.rejectUnknownKeys(allowed: ["name", "peer_address", "secret_file", "discovery", "discovery_port", "auto_discover", "join"])
        var cluster = ClusterConfig()
        cluster.name = try r.name("name") ?? cluster.name
        cluster.peerAddress = try r.address("peer_address")
        cluster.secretFile = try r.path("secret_file")
        cluster.discovery = try r.bool("discovery") ?? cluster.discovery
        cluster.discoveryPort = try r.integer("discovery_port", in: 1...65535) ?? cluster.discoveryPort
        cluster.autoDiscover = try r.bool("auto_discover") ?? cluster.autoDiscover
        let joinForm = "an array of members' discovery addresses (host:port), such as [\"10.0.0.1:7790\"]"
        cluster.join =
            try r.value("join", joinForm) { raw in
                guard let array = raw.array else { return nil }
                let addresses = array.compactMap { $0.string }.filter { TOMLReader.hostPortProblem($0) == nil }
                return addresses.count == array.count ? addresses : nil
            } ?? cluster.join
        if (cluster.autoDiscover || !cluster.join.isEmpty) && cluster.peerAddress == nil {
            throw r.missing("peer_address", "where peers reach this node; a joiner needs it to find and join the cluster")
        }
        if cluster.discovery && cluster.peerAddress == nil {
            throw r.missing("peer_address", "where peers reach this node; discovery tells joiners of it")
        }
        if let address = cluster.peerAddress, address.hasPrefix("0.0.0.0:") || address.hasPrefix("[::]:") {
            throw ConfigError(
                key: r.key("peer_address"),
                message: "must be an address peers can reach (it is published in Hive), got \"\(address)\"")
        }
        if cluster.peerAddress != nil && cluster.secretFile == nil {
            throw r.missing("secret_file", "the path of the cluster's join secret (at least 16 bytes)")
        }
        return cluster
    }
}

extension HiveConfig {
    static func parse(_ r: TOMLReader) throws(ConfigError) -> HiveConfig {
        try r.rejectUnknownKeys(allowed: ["engine", "endpoints", "prefix"])
        var hive = HiveConfig()
        hive.engine = try r.oneOf("engine", Engine.self) ?? hive.engine
        let urlForm = "a non-empty array of etcd URLs such as [\"http://127.0.0.1:2379\"]"
        hive.endpoints =
            try r.value("endpoints", urlForm) { raw in
                guard let array = raw.array, !array.isEmpty else { return nil }
                let urls = array.compactMap { $0.string }.filter { url in
                    (url.hasPrefix("http://") || url.hasPrefix("https://")) && url.count > 8 && !url.contains(" ")
                }
                return urls.count == array.count ? urls : nil
            } ?? hive.endpoints
        hive.prefix =
            try r.value("prefix", "a key prefix that starts and ends with /, such as \"/lis/\"") { raw in
                raw.string.flatMap { $0.count >= 2 && $0.hasPrefix("/") && $0.hasSuffix("/") ? $0 : nil }
            } ?? hive.prefix
        if hive.engine == .embedded && (r.table["endpoints"] != nil || r.table["prefix"] != nil) {
            throw ConfigError(
                key: r.key("engine"),
                message: "is \"embedded\", which has no endpoints or prefix; set engine = \"etcd\" or remove them")
        }
        return hive
    }
}

extension VolumeDefaults {
    static func parse(_ r: TOMLReader) throws(ConfigError) -> VolumeDefaults {
        try r.rejectUnknownKeys(allowed: ["block_size", "survive"])
        var volume = VolumeDefaults()
        volume.blockSizeBytes = try r.blockSize("block_size") ?? volume.blockSizeBytes
        volume.survive = try r.oneOf("survive", Survival.self) ?? volume.survive
        return volume
    }
}

extension MigrationConfig {
    /// Parses a `[migration]` table; `path` is its dotted key (`"migration"`), used in errors.
    /// Public so that other files with a `[migration]` table, such as simulator scenarios,
    /// read it with exactly these rules.
    public static func parse(_ table: TOMLTable, path: String) throws(ConfigError) -> MigrationConfig {
        try parse(TOMLReader(table, path: path))
    }

    static func parse(_ r: TOMLReader) throws(ConfigError) -> MigrationConfig {
        try r.rejectUnknownKeys(allowed: [
            "min_latency_factor", "slow_write_threshold", "migration_cooldown_ms",
            "max_concurrent_migrations", "predictive_migration", "tier",
        ])
        var m = MigrationConfig()
        m.minLatencyFactor = try r.number("min_latency_factor", "a number >= 1.0") { $0 >= 1 } ?? m.minLatencyFactor
        m.slowWriteThreshold = try r.integer("slow_write_threshold", in: 1...maxSlowWrites) ?? m.slowWriteThreshold
        m.migrationCooldownMs = try r.number("migration_cooldown_ms", "a number of milliseconds >= 0") { $0 >= 0 }
            ?? m.migrationCooldownMs
        m.maxConcurrentMigrations =
            try r.integer("max_concurrent_migrations", in: 1...Int.max) ?? m.maxConcurrentMigrations
        m.predictiveMigration = try r.bool("predictive_migration") ?? m.predictiveMigration
        m.explicitTiers = try parseTiers(r)
        return m
    }

    private static func parseTiers(_ r: TOMLReader) throws(ConfigError) -> [MigrationTier]? {
        guard let readers = try r.arrayOfTables("tier") else { return nil }
        if readers.isEmpty {
            throw ConfigError(
                key: r.key("tier"),
                message: "must hold at least one [[\(r.key("tier"))]] table; leave it out to use the derived tiers")
        }
        let factorForm = "a number >= 1.0"
        let writesForm = "an integer from 1 to \(maxSlowWrites)"
        var tiers: [MigrationTier] = []
        for t in readers {
            try t.rejectUnknownKeys(allowed: ["min_factor", "slow_writes"])
            guard let minFactor = try t.number("min_factor", factorForm, { $0 >= 1 }) else {
                throw t.missing("min_factor", factorForm)
            }
            guard let slowWrites = try t.integer("slow_writes", in: 1...maxSlowWrites) else {
                throw t.missing("slow_writes", writesForm)
            }
            if let other = tiers.firstIndex(where: { $0.minFactor == minFactor }) {
                throw ConfigError(
                    key: t.key("min_factor"),
                    message: "must differ between tiers, but \(r.key("tier"))[\(other)] also has \(minFactor)")
            }
            tiers.append(MigrationTier(minFactor: minFactor, slowWrites: slowWrites))
        }
        return tiers
    }
}

extension PolicyConfig {
    /// Parses a `[policy]` table; `path` is its dotted key (`"policy"`), used in errors.
    public static func parse(_ table: TOMLTable, path: String) throws(ConfigError) -> PolicyConfig {
        try parse(TOMLReader(table, path: path))
    }

    static func parse(_ r: TOMLReader) throws(ConfigError) -> PolicyConfig {
        try r.rejectUnknownKeys(allowed: ["name", "local_latency_floor_ms", "slow_write_window_ms", "crdb_ftw", "wpaxos", "adaptive"])
        var p = PolicyConfig()
        p.name = try r.oneOf("name", PolicyName.self) ?? p.name
        p.localLatencyFloorMs = try r.number("local_latency_floor_ms", "a number of milliseconds > 0") { $0 > 0 }
            ?? p.localLatencyFloorMs
        p.slowWriteWindowMs = try r.number("slow_write_window_ms", "a number of milliseconds > 0") { $0 > 0 }
            ?? p.slowWriteWindowMs
        if let t = try r.table("crdb_ftw") { p.settings.crdbFtw = try .parse(t) }
        if let t = try r.table("wpaxos") { p.settings.wpaxos = try .parse(t) }
        if let t = try r.table("adaptive") { p.settings.adaptive = try .parse(t) }
        return p
    }
}

extension TOMLReader {
    /// A duration in milliseconds, above 0.
    func milliseconds(_ name: String) throws(ConfigError) -> Double? {
        try number(name, "a number of milliseconds > 0") { $0 > 0 }
    }
    /// A fraction: above 0, at most 1.
    func fraction(_ name: String) throws(ConfigError) -> Double? {
        try number(name, "a number above 0 and at most 1") { $0 > 0 && $0 <= 1 }
    }
    func positive(_ name: String) throws(ConfigError) -> Double? {
        try number(name, "a number above 0") { $0 > 0 }
    }
}

extension PolicySettings.CrdbFtw {
    static func parse(_ r: TOMLReader) throws(ConfigError) -> Self {
        try r.rejectUnknownKeys(allowed: ["window_ms", "decay", "threshold", "min_stats_ms", "min_transfer_interval_ms"])
        var c = Self()
        c.windowMs = try r.milliseconds("window_ms") ?? c.windowMs
        c.decay = try r.fraction("decay") ?? c.decay
        c.threshold = try r.positive("threshold") ?? c.threshold
        c.minStatsMs = try r.number("min_stats_ms", "a number of milliseconds >= 0") { $0 >= 0 } ?? c.minStatsMs
        c.minTransferIntervalMs = try r.number("min_transfer_interval_ms", "a number of milliseconds >= 0") { $0 >= 0 }
            ?? c.minTransferIntervalMs
        return c
    }
}

extension PolicySettings.WPaxos {
    static func parse(_ r: TOMLReader) throws(ConfigError) -> Self {
        try r.rejectUnknownKeys(allowed: ["run", "interval_ms"])
        var w = Self()
        w.run = try r.integer("run", in: 1...1_000_000) ?? w.run
        w.intervalMs = try r.milliseconds("interval_ms") ?? w.intervalMs
        return w
    }
}

extension PolicySettings.Adaptive {
    static func parse(_ r: TOMLReader) throws(ConfigError) -> Self {
        try r.rejectUnknownKeys(allowed: [
            "short_half_life_ms", "long_half_life_ms", "horizon_ms", "improvement", "margin", "contested", "group_limit",
            "group_interval_ms", "taken_blocks", "shift_run", "evidence", "fresh_significance", "fresh_touches",
            "explain_interval_ms", "wan_bytes_per_ms", "predict_interval_ms", "predict_reserve_ms",
        ])
        var a = Self()
        a.shortHalfLifeMs = try r.milliseconds("short_half_life_ms") ?? a.shortHalfLifeMs
        a.longHalfLifeMs = try r.milliseconds("long_half_life_ms") ?? a.longHalfLifeMs
        if a.longHalfLifeMs < a.shortHalfLifeMs {
            throw ConfigError(
                key: r.key("long_half_life_ms"),
                message: "must be at least short_half_life_ms (\(a.shortHalfLifeMs)), got \(a.longHalfLifeMs)")
        }
        a.horizonMs = try r.milliseconds("horizon_ms") ?? a.horizonMs
        a.improvement = try r.fraction("improvement") ?? a.improvement
        a.margin = try r.number("margin", "a number >= 1") { $0 >= 1 } ?? a.margin
        a.contested = try r.fraction("contested") ?? a.contested
        a.groupLimit = try r.integer("group_limit", in: 0...1_000_000) ?? a.groupLimit
        a.groupIntervalMs = try r.number("group_interval_ms", "a number of milliseconds >= 0") { $0 >= 0 } ?? a.groupIntervalMs
        a.takenBlocks = try r.positive("taken_blocks") ?? a.takenBlocks
        a.shiftRun = try r.integer("shift_run", in: 1...1_000_000) ?? a.shiftRun
        a.evidence = try r.number("evidence", "a number >= 0") { $0 >= 0 } ?? a.evidence
        a.freshSignificance = try r.number("fresh_significance", "a number above 0 and below 1") { $0 > 0 && $0 < 1 }
            ?? a.freshSignificance
        a.freshTouches = try r.integer("fresh_touches", in: 2...1_000_000) ?? a.freshTouches
        a.explainIntervalMs = try r.number("explain_interval_ms", "a number of milliseconds >= 0") { $0 >= 0 } ?? a.explainIntervalMs
        a.wanBytesPerMs = try r.positive("wan_bytes_per_ms") ?? a.wanBytesPerMs
        a.predictIntervalMs = try r.milliseconds("predict_interval_ms") ?? a.predictIntervalMs
        a.predictReserveMs = try r.number("predict_reserve_ms", "a number of milliseconds >= 0") { $0 >= 0 } ?? a.predictReserveMs
        return a
    }
}

/// One TOML table and its dotted path, with typed readers whose errors name the full key.
///
/// Every reader returns nil for an absent key, so callers apply their own defaults.
struct TOMLReader {
    let table: TOMLTable
    /// The table's dotted key, `""` at the top level.
    let path: String

    init(_ table: TOMLTable, path: String) {
        self.table = table
        self.path = path
    }

    /// Parses a whole document, turning a syntax error into one that carries its line.
    static func document(_ text: String) throws(ConfigError) -> TOMLTable {
        do {
            return try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(line: error.source.begin.line, message: error.description)
        } catch {
            throw ConfigError(message: "not valid TOML: \(error)")
        }
    }

    /// The full dotted key of `name` in this table.
    func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    /// Throws for the first key, in sorted order, that is not in `allowed`.
    func rejectUnknownKeys(allowed: [String]) throws(ConfigError) {
        for name in table.keys.sorted() where !allowed.contains(name) {
            let what = path.isEmpty ? "section" : "key"
            throw ConfigError(
                key: key(name), message: "is not a known \(what); allowed: \(allowed.joined(separator: ", "))")
        }
    }

    /// The error for a value that is present but not `expected`.
    func invalid(_ name: String, _ expected: String, got value: TOMLValueConvertible) -> ConfigError {
        ConfigError(key: key(name), message: "must be \(expected), got \(Self.render(value))")
    }

    /// The error for a required key that is absent.
    func missing(_ name: String, _ expected: String) -> ConfigError {
        ConfigError(key: key(name), message: "is missing; it must be \(expected)")
    }

    /// The value at `name` passed through `convert`, which returns nil for a value that is
    /// not `expected` (wrong type or out of range).
    func value<T>(
        _ name: String, _ expected: String, _ convert: (TOMLValueConvertible) -> T?
    ) throws(ConfigError) -> T? {
        guard let raw = table[name] else { return nil }
        guard let converted = convert(raw) else { throw invalid(name, expected, got: raw) }
        return converted
    }

    /// A finite number, written as an integer or a float, for which `valid` holds.
    func number(_ name: String, _ expected: String, _ valid: (Double) -> Bool) throws(ConfigError) -> Double? {
        try value(name, expected) { raw in
            guard let number = raw.double ?? raw.int.map(Double.init), number.isFinite, valid(number) else {
                return nil
            }
            return number
        }
    }

    /// An integer within `range`. A float is refused even when whole: these keys count things.
    func integer(_ name: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        let expected =
            range.upperBound == Int.max
            ? "an integer >= \(range.lowerBound)" : "an integer from \(range.lowerBound) to \(range.upperBound)"
        return try value(name, expected) { raw in raw.int.flatMap { range.contains($0) ? $0 : nil } }
    }

    func bool(_ name: String) throws(ConfigError) -> Bool? {
        try value(name, "true or false") { $0.bool }
    }

    /// One of `Choice`'s raw values, such as `survive = "region"`.
    func oneOf<Choice: RawRepresentable & CaseIterable>(
        _ name: String, _: Choice.Type
    ) throws(ConfigError) -> Choice? where Choice.RawValue == String {
        let expected = "one of " + Choice.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        return try value(name, expected) { raw in raw.string.flatMap(Choice.init(rawValue:)) }
    }

    /// A node or region name (see `nameProblem`).
    func name(_ name: String) throws(ConfigError) -> String? {
        try value(name, Self.nameForm) { raw in raw.string.flatMap { Self.isValidName($0) ? $0 : nil } }
    }

    /// A file system path; only emptiness is checked here, the runtime checks the file.
    func path(_ name: String) throws(ConfigError) -> String? {
        try value(name, "a non-empty path") { raw in raw.string.flatMap { $0.isEmpty ? nil : $0 } }
    }

    /// A TCP listening address, `host:port`.
    func address(_ name: String) throws(ConfigError) -> String? {
        guard let raw = table[name] else { return nil }
        let expected = "host:port, such as \"127.0.0.1:10809\" or \"[::1]:10809\""
        guard let text = raw.string else { throw invalid(name, expected, got: raw) }
        if let problem = Self.hostPortProblem(text) {
            throw ConfigError(key: key(name), message: "must be \(expected), got \(Self.render(raw)): \(problem)")
        }
        return text
    }

    /// A block size: bytes as an integer, or a size string such as `"1MiB"`; a power of two
    /// within `VolumeSpec`'s bounds, because blocks tile a volume by shifts and masks.
    func blockSize(_ name: String) throws(ConfigError) -> UInt64? {
        guard let raw = table[name] else { return nil }
        let lowest = VolumeSpec.minBlockSizeBytes
        let highest = VolumeSpec.maxBlockSizeBytes
        let expected = "a power of two from \(ByteSize.format(lowest)) to \(ByteSize.format(highest))"
        let bytes: UInt64
        if let int = raw.int {
            guard let nonNegative = UInt64(exactly: int) else { throw invalid(name, expected, got: raw) }
            bytes = nonNegative
        } else if let text = raw.string {
            do {
                bytes = try ByteSize.parse(text)
            } catch {
                throw ConfigError(key: key(name), message: "must be a size such as \"1MiB\", got \(error)")
            }
        } else {
            throw invalid(name, "a number of bytes or a size such as \"1MiB\"", got: raw)
        }
        guard (lowest...highest).contains(bytes), bytes & (bytes - 1) == 0 else {
            throw invalid(name, expected, got: raw)
        }
        return bytes
    }

    /// The sub-table at `name`, such as `[migration]`.
    func table(_ name: String) throws(ConfigError) -> TOMLReader? {
        try value(name, "a table ([\(key(name))])") { raw in raw.table.map { TOMLReader($0, path: key(name)) } }
    }

    /// The tables of an array of tables, such as `[[link]]`, each with its indexed path.
    func arrayOfTables(_ name: String) throws(ConfigError) -> [TOMLReader]? {
        guard let array = try value(name, "an array of tables ([[\(key(name))]])", { $0.array }) else {
            return nil
        }
        var readers: [TOMLReader] = []
        for (index, element) in array.enumerated() {
            let elementKey = "\(key(name))[\(index)]"
            guard let table = element.table else {
                throw ConfigError(key: elementKey, message: "must be a table, got \(Self.render(element))")
            }
            readers.append(TOMLReader(table, path: elementKey))
        }
        return readers
    }

    /// A value as a message shows it: numbers and booleans as written, strings quoted,
    /// containers by kind (their contents would swamp the message).
    static func render(_ value: TOMLValueConvertible) -> String {
        if let string = value.string { return String(reflecting: string) }
        if let int = value.int { return String(int) }
        if let double = value.double { return String(double) }
        if let bool = value.bool { return String(bool) }
        switch value.type {
        case .array: return "an array"
        case .table: return "a table"
        default: return "a \(value.type)"
        }
    }

    static let nameForm = "a name of 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"

    /// Whether `name` can name a node or region. Names appear in metric labels, URLs and
    /// file names, so they keep to a portable alphabet.
    static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        func isAlphanumeric(_ c: UInt8) -> Bool {
            (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
        }
        return (1...64).contains(bytes.count) && isAlphanumeric(bytes[0])
            && bytes.allSatisfy { isAlphanumeric($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }
    }

    /// What is wrong with `text` as `host:port`, or nil if nothing is. The host is not
    /// resolved here (that is I/O); this only catches what can never work.
    static func hostPortProblem(_ text: String) -> String? {
        guard let colon = text.lastIndex(of: ":") else { return "no port" }
        let host = text[..<colon]
        let port = text[text.index(after: colon)...]
        if host.isEmpty { return "no host" }
        if host.contains(where: \.isWhitespace) { return "a space in the host" }
        if host.hasPrefix("[") != host.hasSuffix("]") || host == "[]" { return "unbalanced brackets" }
        if !host.hasPrefix("[") && host.contains(":") { return "an IPv6 address needs brackets, as in [::1]:10809" }
        let isNumber = !port.isEmpty && port.allSatisfy { $0.isASCII && $0.isNumber }
        guard isNumber, let number = Int(port), (1...65535).contains(number) else {
            return "the port must be a number from 1 to 65535"
        }
        return nil
    }
}
