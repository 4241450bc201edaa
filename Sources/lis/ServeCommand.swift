import ArgumentParser
import Foundation
import LisCore
import LisNode
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a Lis node: VM disks over NBD, an HTTP API, data on local disk.",
        discussion: """
            With no arguments this runs a one-node cluster in region `local` with the embedded \
            Hive, data in ./lis-data, NBD on the unix socket ./lis-data/nbd.sock and on \
            127.0.0.1:10809, and the HTTP API on 127.0.0.1:7780. A TOML file (--config) and the \
            flags below override each default, flags last. Stop it with Ctrl-C or SIGTERM: it \
            finishes in-flight I/O, syncs, and exits.

            Then: lis volume create vm1 --size 1G
                  qemu-io -f raw 'nbd+unix:///vm1?socket=lis-data/nbd.sock' -c 'write -P 0xab 0 1M' -c flush

            To join a cluster on the local network knowing only its secret (also installed as \
            `lis-cluster join --auto-discover …`):
                  lis serve --region london --peer-address 10.0.0.2:7781 --secret-file join.secret --auto-discover
            """
    )

    @Option(name: .long, help: "A lis.toml file (sections [node], [volume], [migration], [policy]).")
    var config: String?

    @Option(name: .customLong("data-dir"), help: "Where volumes, the log and the embedded Hive live. Default ./lis-data.")
    var dataDir: String?

    @Option(name: .long, help: "This node's region. Default: local.")
    var region: String?

    @Option(name: .customLong("node-id"), help: "This node's id. Default: made once and kept in the data directory.")
    var nodeID: String?

    @Option(name: .customLong("nbd-socket"), help: "NBD unix socket path. Default <data-dir>/nbd.sock.")
    var nbdSocket: String?

    @Option(name: .customLong("nbd-address"), help: "NBD TCP host:port, or 'none'. Default 127.0.0.1:10809.")
    var nbdAddress: String?

    @Option(name: .customLong("http-address"), help: "HTTP API host:port. Default 127.0.0.1:7780.")
    var httpAddress: String?

    @Option(name: .customLong("peer-address"), help: "Where peers reach this node, host:port ([cluster] peer_address).")
    var peerAddress: String?

    @Option(name: .customLong("secret-file"), help: "The cluster's join secret ([cluster] secret_file; lis cluster init makes one).")
    var secretFile: String?

    @Flag(
        name: .customLong("auto-discover"),
        help: """
            Find the cluster on the local network: ask by UDP multicast, authenticated with the join \
            secret, and take the Hive a member names; then answer others' queries. Needs \
            --peer-address and --secret-file.
            """)
    var autoDiscover = false

    @Option(
        name: .customLong("join"),
        help: "A member's discovery address (host:port, UDP) to ask for the cluster, for routed networks. Repeatable.")
    var join: [String] = []

    @Option(name: .customLong("discovery-port"), help: "The UDP port of discovery ([cluster] discovery_port). Default 7790.")
    var discoveryPort: Int?

    @Option(name: .customLong("discovery-timeout"), help: "How long --auto-discover and --join ask before giving up, in seconds. Default 30.")
    var discoveryTimeout: Double = 30

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical. Default info.")
    var logLevel: String = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("unknown log level '\(logLevel)'; use trace, debug, info, notice, warning, error or critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "lis")
        logger.logLevel = level

        var loaded = LisConfig()
        if let config {
            let text: String
            do {
                text = try String(contentsOfFile: config, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read the config file \(config): \(error.localizedDescription)")
            }
            do {
                loaded = try LisConfig.parse(toml: text)
            } catch {
                throw ValidationError("\(config): \(error)")
            }
        }
        if let dataDir {
            if loaded.node.nbdSocket == nil && nbdSocket == nil { loaded.node.nbdSocket = dataDir + "/nbd.sock" }
            loaded.node.dataDir = dataDir
        }
        if let region {
            guard RegionID.problem(with: region) == nil else { throw ValidationError("--region: \(RegionID.problem(with: region)!)") }
            loaded.node.region = RegionID(region)
        }
        if let nodeID { loaded.node.id = NodeID(nodeID) }
        if let nbdSocket { loaded.node.nbdSocket = nbdSocket }
        if let httpAddress { loaded.node.httpAddress = httpAddress }
        if let peerAddress { loaded.cluster.peerAddress = peerAddress }
        if let secretFile { loaded.cluster.secretFile = secretFile }
        if let discoveryPort {
            guard (1...65535).contains(discoveryPort) else { throw ValidationError("--discovery-port must be 1–65535") }
            loaded.cluster.discoveryPort = discoveryPort
        }
        if loaded.cluster.peerAddress != nil && loaded.cluster.secretFile == nil {
            throw ValidationError("a cluster node needs the join secret: --secret-file (lis cluster init makes one)")
        }
        var settings = NodeSettings(config: loaded)
        if autoDiscover { settings.autoDiscover = true }
        if !join.isEmpty { settings.joinTargets = join }
        guard discoveryTimeout > 0 else { throw ValidationError("--discovery-timeout must be above 0 seconds") }
        settings.discoveryTimeoutSeconds = discoveryTimeout
        if let nbdAddress { settings.nbdAddress = nbdAddress == "none" ? nil : nbdAddress }
        do {
            try await NodeServer.run(settings, logger: logger)
        } catch let error as NodeStartError {
            logger.critical("\(error)")
            throw ExitCode(1)
        } catch let error as DataDirectoryLock.Busy {
            logger.critical("\(error)")
            throw ExitCode(1)
        } catch let error as HiveError {
            logger.critical("cannot start: \(error) (engine \(settings.hive.engine.rawValue))")
            throw ExitCode(1)
        }
    }
}
