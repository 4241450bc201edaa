import LisCore

/// Everything `lis serve` needs to start a node: the configuration file's values with the
/// command line's overrides applied.
public struct NodeSettings: Sendable {
    public var nodeID: NodeID?
    public var region: RegionID
    public var dataDirectory: String
    public var nbdSocket: String
    /// `host:port`, or nil to serve NBD on the unix socket only.
    public var nbdAddress: String?
    public var httpAddress: String
    public var volumeDefaults: VolumeDefaults
    public var migration: MigrationConfig
    public var policy: PolicyConfig
    public var hive: HiveConfig
    public var cluster: ClusterConfig
    public var wanTopology: String?
    public var wanHiveRegion: RegionID?
    public var wanBandwidthMbit: Double?
    /// `--auto-discover` (`[cluster] auto_discover`): find the cluster's Hive by asking on the
    /// local network's multicast group, then answer others' queries (`[cluster] discovery`).
    public var autoDiscover: Bool
    /// `--join host:port` (`[cluster] join`): members' discovery addresses to ask (routed networks).
    public var joinTargets: [String]
    /// How long discovery asks before the node gives up.
    public var discoveryTimeoutSeconds: Double = 30

    public init(config: LisConfig) {
        nodeID = config.node.id
        region = config.node.region
        dataDirectory = config.node.dataDir
        nbdSocket = config.node.nbdSocket ?? (config.node.dataDir + "/nbd.sock")
        nbdAddress = config.node.nbdAddress
        httpAddress = config.node.httpAddress
        volumeDefaults = config.volume
        migration = config.migration
        policy = config.policy
        hive = config.hive
        cluster = config.cluster
        autoDiscover = config.cluster.autoDiscover
        joinTargets = config.cluster.join
        wanTopology = config.wanTopology
        wanHiveRegion = config.wanHiveRegion
        wanBandwidthMbit = config.wanBandwidthMbit
    }

    /// Splits `host:port` (IPv6 hosts in brackets).
    public static func hostPort(_ address: String) throws(NodeStartError) -> (host: String, port: Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port)
        else { throw NodeStartError("\(address) is not host:port (for example 127.0.0.1:10809)") }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw NodeStartError("\(address) has no host (for example 127.0.0.1:10809)") }
        return (host, port)
    }
}
