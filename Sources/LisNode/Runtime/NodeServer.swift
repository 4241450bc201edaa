import Foundation
import Hummingbird
import LisCore
import LisHTTP
import LisNBD
import LisWire
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Starts a node and runs it until SIGINT or SIGTERM: the one-node cluster of `lis serve`
/// (region `local` by default, the embedded Hive or etcd, NBD on a unix socket and TCP, the HTTP API).
public enum NodeServer {
    public static func run(_ settings: NodeSettings, logger: Logger) async throws {
        keepIOBufferPages()
        var settings = settings
        let dataDirectory = settings.dataDirectory
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw NodeStartError("cannot create the data directory \(dataDirectory): \(error.localizedDescription)")
        }
        let lock = try DataDirectoryLock(directory: dataDirectory)
        let nodeID = try settings.nodeID ?? persistentNodeID(in: dataDirectory)
        let http = try NodeSettings.hostPort(settings.httpAddress)
        let tcp = try settings.nbdAddress.map { address throws(NodeStartError) in try NodeSettings.hostPort(address) }

        // A cluster node publishes where its peers reach it; the secret is read first, so a
        // node that cannot prove itself never registers an address.
        let peer = try settings.cluster.peerAddress.map { address throws(NodeStartError) in
            (try NodeSettings.hostPort(address), address)
        }
        let secretBytes = try (peer != nil ? settings.cluster.secretFile ?? "" : settings.cluster.secretFile).map {
            path throws(NodeStartError) in try readSecret(path)
        }
        let secret = try secretBytes.flatMap { bytes throws(NodeStartError) in peer == nil ? nil : try peerSecret(bytes) }
        // The API answers anyone on loopback; bound elsewhere it needs the cluster's token.
        let loopback = AccessPolicy.isLoopback(host: http.host)
        let token = secretBytes.map(AccessPolicy.token(fromSecret:))
        if !loopback && token == nil {
            throw NodeStartError(
                "the HTTP API on \(settings.httpAddress) is not on loopback, so it needs an API token: run `lis cluster init` "
                    + "and give the node its join secret ([cluster] secret_file or --secret-file), or bind it to 127.0.0.1")
        }
        // A node that joined a cluster stays in it: with no Hive of its own in the config, it
        // takes the one its data directory records instead of asking (or starting alone).
        let recorded = try HiveRecord.read(in: dataDirectory)
        if settings.hive.engine == .embedded, let recorded, recorded.isEtcd {
            guard peer != nil else {
                throw NodeStartError(
                    "this data directory belongs to \(recorded.text); give the node its peer address and the join secret "
                        + "(--peer-address and --secret-file, or [cluster] peer_address and secret_file)")
            }
            logger.info("rejoining \(recorded.text), as recorded in \(dataDirectory)/\(HiveRecord.fileName)")
            settings.hive.engine = .etcd
            settings.hive.endpoints = recorded.endpoints ?? settings.hive.endpoints
            settings.hive.prefix = recorded.prefix ?? settings.hive.prefix
            settings.cluster.name = recorded.cluster ?? settings.cluster.name
        }
        if settings.autoDiscover || !settings.joinTargets.isEmpty {
            guard let peer, let secret else {
                throw NodeStartError(
                    "--auto-discover and --join need this node's peer address and the join secret "
                        + "(--peer-address and --secret-file, or [cluster] peer_address and secret_file)")
            }
            if settings.hive.engine == .embedded { try await discoverHive(&settings, peer.0.host, secret, logger) }
            settings.cluster.discovery = settings.cluster.discovery || settings.autoDiscover
        }
        let configured = HiveRecord(settings)
        let embeddedPath = dataDirectory + "/hive.sqlite"
        var embeddedVolumes: [String] = []
        if configured.isEtcd && FileManager.default.fileExists(atPath: embeddedPath) {
            embeddedVolumes = try await EmbeddedHive(path: embeddedPath).volumes().map(\.name.name)
        }
        if let refusal = HiveRecord.refusal(recorded: recorded, configured: configured, embeddedVolumes: embeddedVolumes) {
            throw NodeStartError(refusal)
        }
        if recorded != configured { try configured.write(in: dataDirectory) }
        // Hive first: it is the truth about volumes. Then the store, reconciled with it.
        let hive: any HiveEngine =
            switch settings.hive.engine {
            case .embedded: try EmbeddedHive(path: dataDirectory + "/hive.sqlite")
            case .etcd: try EtcdHive(endpoints: settings.hive.endpoints, prefix: settings.hive.prefix)
            }
        try await register(
            HiveMember(node: nodeID, region: settings.region, address: peer?.1, http: advertisedHTTP(http, peerHost: peer?.0.host)),
            in: hive, logger: logger)
        try await hive.keepAlive(nodeID)
        let members = try await hive.members()
        let volumes = try await hive.volumes()
        let wan = try settings.wanTopology.map { path throws(NodeStartError) in try loadTopology(path, region: settings.region) }
        var hiveDelayMs: Double?
        if let hiveRegion = settings.wanHiveRegion, let wan {
            guard let rtt = wan.rttMs(settings.region, hiveRegion) else {
                throw NodeStartError("[wan] hive_region \(hiveRegion) is not in the topology \(settings.wanTopology ?? "")")
            }
            hiveDelayMs = rtt
        }
        let store = try BlockStore(directory: dataDirectory)
        let recovered = store.recovered
        logger.info(
            "storage recovered",
            metadata: [
                "volumes": "\(recovered.volumes.count)", "log_records": "\(recovered.records)",
                "dropped_tail_bytes": "\(recovered.droppedTailBytes)",
            ])
        for volume in volumes where recovered.volumes[volume.name] == nil {
            logger.notice("creating the missing data file of volume \(volume.name)")
            try store.createVolume(volume.name, sizeBytes: volume.sizeBytes, blockSizeBytes: volume.blockSizeBytes)
        }
        for volume in volumes {
            if let size = recovered.volumes[volume.name]?.sizeBytes, size < volume.sizeBytes {
                try store.resizeVolume(volume.name, sizeBytes: volume.sizeBytes)
            }
        }
        for name in recovered.volumes.keys.sorted() where !volumes.contains(where: { $0.name == name }) {
            logger.notice("removing the data file of volume \(name), which the cluster no longer has")
            try store.deleteVolume(name)
        }

        var core = NodeCore(
            id: nodeID,
            map: ClusterMap(
                nodes: peer == nil ? [(nodeID, settings.region)] : members.map { ($0.node, $0.region) }, volumes: volumes,
                inJoinOrder: true
            ) { a, b in wan?.rttMs(a, b) ?? (a == b ? 0.5 : 100) },
            migration: settings.migration, policy: settings.policy)
        // A data directory with any log record has run a node before: it may have acknowledged
        // writes it lost in a crash, so its blocks take new epochs before it serves them.
        core.restore(
            promises: recovered.promises, positions: recovered.positions, restarted: recovered.records > 0,
            incarnation: try nextIncarnation(in: dataDirectory), recent: recovered.recent)

        // One event loop serves NBD and owns the core: no locks and no hops on the I/O path.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let (hiveCalls, hiveContinuation) = AsyncStream.makeStream(of: (HiveCallID, HiveRequest).self)
        let metrics = Metrics(labels: [("node", nodeID.name), ("region", settings.region.name)])
        for family in NodeMetrics.all { metrics.declare(family) }
        let runtime = NodeRuntime(
            loop: loop, core: core, store: store, dataDirectory: dataDirectory, hiveCalls: hiveContinuation, metrics: metrics,
            logger: logger)
        await runtime.setVolumes(volumes)
        var transport: PeerTransport?
        if let peer, let secret {
            let region = settings.region
            var oneWayMs: (@Sendable (RegionID) -> Double)? = nil
            if let wan { oneWayMs = { @Sendable other in (wan.rttMs(region, other) ?? 0) / 2 } }
            let peers = PeerTransport(
                identity: .init(cluster: settings.cluster.name, node: nodeID, region: settings.region, secret: secret),
                group: group, logger: logger,
                oneWayMs: oneWayMs, bytesPerMs: settings.wanBandwidthMbit.map { $0 * 1_000_000 / 8 / 1000 }
            ) { [runtime] envelope in
                runtime.loop.execute { runtime.assumeIsolated { $0.receive(envelope) } }
            }
            do {
                _ = try await peers.listen(host: peer.0.host, port: peer.0.port)
            } catch {
                try? await group.shutdownGracefully()
                throw NodeStartError("cannot listen for peers on \(peer.1): \(error)")
            }
            await runtime.setTransport(peers)
            transport = peers
        }
        var responder: Discovery.Responder?
        if settings.cluster.discovery, let peer, let secret {
            guard settings.hive.engine == .etcd else {
                throw NodeStartError("discovery tells joiners where Hive is: it needs [hive] engine = \"etcd\"")
            }
            let beacon = Beacon(
                nonce: [], cluster: settings.cluster.name, node: nodeID, region: settings.region, peerAddress: peer.1,
                hiveEndpoints: settings.hive.endpoints, hivePrefix: settings.hive.prefix)
            responder = try Discovery.Responder(
                codec: DiscoveryCodec(secret: secret), interface: peer.0.host, port: settings.cluster.discoveryPort,
                beacon: { nonce in
                    var answer = beacon
                    answer.nonce = nonce
                    return answer
                }, logger: logger)
        }
        defer { responder?.stop() }
        let paused = try await hive.placementPaused()
        await runtime.setPlacementPaused(paused)
        await runtime.setDrained(try await hive.drainedNodes())
        await runtime.start()
        if transport != nil { await runtime.setMembers(members) }
        // The core uses this member list now: say so, so the next node may join.
        try await hive.acknowledgeMembers(nodeID, count: members.count)
        for volume in volumes {
            for (key, record) in try await hive.records(of: volume.name) { await runtime.input(.hiveWatch(key, record)) }
        }

        let registry = NBDConnectionRegistry()
        let delegate = NodeNBDDelegate(runtime: runtime)
        var listeners: [Channel] = []
        do {
            listeners.append(try await bootstrap(group, delegate, registry, tcp: false)
                .bind(unixDomainSocketPath: settings.nbdSocket, cleanupExistingSocketFile: true).get())
            if let tcp {
                listeners.append(try await bootstrap(group, delegate, registry, tcp: true).bind(host: tcp.host, port: tcp.port).get())
            }
        } catch {
            for listener in listeners { try? await listener.close() }
            try? await group.shutdownGracefully()
            throw NodeStartError("cannot listen for NBD: \(error)")
        }

        let api = NodeAPIService(
            runtime: runtime, hive: hive, settings: settings, nodeID: nodeID, registry: registry, apiToken: token)
        let ready = "lis node \(nodeID) (\(settings.region)): NBD on \(settings.nbdSocket); API on http://\(settings.httpAddress)"
        let app = Application(
            router: LisHTTPRoutes.router(api: api, dashboard: api, access: AccessPolicy(token: loopback ? nil : token, loopback: loopback)),
            configuration: .init(address: .hostname(http.host, port: http.port), serverName: "lis"),
            // Every listener is bound now: a Type=notify unit counts the node as started.
            onServerRunning: { _ in SystemdNotify.send("READY=1\nSTATUS=\(ready)") },
            logger: logger)
        let node = NodeService(
            runtime: runtime, hive: hive, hiveCalls: hiveCalls, hiveContinuation: hiveContinuation, listeners: listeners,
            registry: registry, loop: loop, transport: transport, hiveDelayMs: hiveDelayMs, logger: logger)

        var tcpText = settings.nbdAddress.map { " and tcp:\($0)" } ?? ""
        if let peer { tcpText += "; peers on \(peer.1) (cluster \(settings.cluster.name), \(members.count) members)" }
        if let path = settings.wanTopology { tcpText += "; WAN emulated from \(path)" }
        if let mbit = settings.wanBandwidthMbit { tcpText += " at \(mbit) Mbit/s per lane" }
        if let hiveDelayMs { tcpText += " (Hive \(hiveDelayMs) ms away)" }
        if responder != nil { tcpText += "; answering discovery on UDP port \(settings.cluster.discoveryPort)" }
        logger.info(
            "lis node \(nodeID) serving region \(settings.region): NBD on unix:\(settings.nbdSocket)\(tcpText); API on http://\(settings.httpAddress); data in \(dataDirectory)")
        let services = ServiceGroup(
            configuration: .init(
                services: [.init(service: node), .init(service: app)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await services.run()
            SystemdNotify.send("STOPPING=1")
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: settings.nbdSocket)
        withExtendedLifetime(lock) {}
        logger.info("lis node \(nodeID) stopped cleanly")
    }

    /// A node allocates and frees I/O buffers (a 1 MiB READ's answer) at a high rate. By
    /// default glibc serves such sizes with `mmap`, or gives a freed heap top back to the kernel
    /// (`madvise`), so each new buffer faults all its pages in again inside `pread`: 1 MiB reads
    /// spent three times the kernel time per read that nbdkit does. Up to 64 MiB of freed
    /// memory is kept for reuse instead.
    static func keepIOBufferPages() {
        #if os(Linux)
        _ = glibcMallopt(-3, 64 << 20)  // M_MMAP_THRESHOLD (malloc.h, which Glibc's module does not export)
        _ = glibcMallopt(-1, 64 << 20)  // M_TRIM_THRESHOLD
        #endif
    }

    static func bootstrap(_ group: EventLoopGroup, _ delegate: NodeNBDDelegate, _ registry: NBDConnectionRegistry, tcp: Bool) -> ServerBootstrap {
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in NBDServer.configure(channel, delegate: delegate, registry: registry) }
        if tcp {
            bootstrap = bootstrap
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        }
        return bootstrap
    }

    /// Registers this node, waiting while Hive says a join must wait for the other members to
    /// see the last one (at most two minutes, with a notice every 5 s).
    static func register(_ member: HiveMember, in hive: any HiveEngine, logger: Logger) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        var nextNotice = ContinuousClock.now
        while true {
            do {
                try await hive.register(member)
                return
            } catch .retryLater(let why) {
                if ContinuousClock.now >= deadline { throw NodeStartError("cannot join the cluster: \(why)") }
                if ContinuousClock.now >= nextNotice {
                    logger.notice("\(why); retrying")
                    nextNotice = ContinuousClock.now + .seconds(5)
                }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// The emulated WAN (`[wan] topology`): a `topology/regions.toml`-format file that names
    /// this node's region.
    static func loadTopology(_ path: String, region: RegionID) throws(NodeStartError) -> Topology {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw NodeStartError("cannot read the WAN topology \(path) ([wan] topology)")
        }
        do {
            let topology = try Topology.parse(toml: text)
            try topology.validate(covering: [region])
            return topology
        } catch {
            throw NodeStartError("the WAN topology \(path): \(error)")
        }
    }

    /// The cluster's join secret: the file's bytes, without a trailing newline.
    /// A node with no Hive of its own asks the members (`Discovery`) and takes the cluster's:
    /// etcd's endpoints, the key prefix and the cluster's name.
    static func discoverHive(_ settings: inout NodeSettings, _ interface: String, _ secret: PeerSecret, _ logger: Logger)
        async throws(NodeStartError)
    {
        let targets = try settings.joinTargets.map { address throws(NodeStartError) in try NodeSettings.hostPort(address) }
        let asked =
            (settings.autoDiscover ? ["multicast \(Discovery.group):\(settings.cluster.discoveryPort) on \(interface)"] : [])
            + settings.joinTargets
        logger.info("looking for the cluster: asking \(asked.joined(separator: ", "))")
        let found = try await Discovery.find(
            codec: DiscoveryCodec(secret: secret), interface: interface, port: settings.cluster.discoveryPort,
            multicast: settings.autoDiscover, targets: targets, timeout: Swift.Duration.milliseconds(Int64(settings.discoveryTimeoutSeconds * 1000)), logger: logger)
        let beacon = found.beacon
        let endpoints = beacon.hiveEndpoints.joined(separator: ", ")
        logger.info(
            "found cluster \(beacon.cluster): member \(beacon.node) (\(beacon.region)) answered from \(found.from); Hive in etcd at \(endpoints) under \(beacon.hivePrefix)")
        settings.hive.engine = .etcd
        settings.hive.endpoints = beacon.hiveEndpoints
        settings.hive.prefix = beacon.hivePrefix
        settings.cluster.name = beacon.cluster
    }

    /// The join secret's bytes, without a trailing newline.
    static func readSecret(_ path: String) throws(NodeStartError) -> [UInt8] {
        guard var bytes = FileManager.default.contents(atPath: path).map(Array.init) else {
            throw NodeStartError("cannot read the join secret \(path) ([cluster] secret_file)")
        }
        while bytes.last == 0x0A || bytes.last == 0x0D { bytes.removeLast() }
        guard bytes.count >= 16 else { throw NodeStartError("the join secret \(path) is too short: it needs at least 16 bytes") }
        return bytes
    }

    static func peerSecret(_ bytes: [UInt8]) throws(NodeStartError) -> PeerSecret {
        do {
            return try PeerSecret(bytes)
        } catch {
            throw NodeStartError("the join secret is too short: it needs at least 16 bytes")
        }
    }

    /// Where other members reach this node's API: its own address, or the peer address's host
    /// if the API listens on every interface.
    static func advertisedHTTP(_ http: (host: String, port: Int), peerHost: String?) -> String {
        let host = ["0.0.0.0", "::", "[::]"].contains(http.host) ? peerHost ?? "127.0.0.1" : http.host
        return host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(http.port)" : "\(host):\(http.port)"
    }

    /// Counts this node's starts in `incarnation` in the data directory, durably before the
    /// node serves: request ids of different runs must never collide (a holder answers a
    /// write whose id it knows with the position it already has).
    static func nextIncarnation(in directory: String) throws -> UInt64 {
        let path = directory + "/incarnation"
        let previous = (try? String(contentsOfFile: path, encoding: .utf8))
            .flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let next = previous.map { $0 + 1 } ?? 0
        try writeDurably(Data((String(next) + "\n").utf8), to: path, in: directory)
        return next
    }

    /// Replaces the file at `path` in `directory` with `bytes` (a new file renamed over it),
    /// then syncs the file and the directory, so the new contents survive a crash whole.
    static func writeDurably(_ bytes: Data, to path: String, in directory: String) throws(NodeStartError) {
        do {
            try bytes.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw NodeStartError("cannot write \(path): \(error.localizedDescription)")
        }
        for file in [path, directory] {
            let fd = open(file, O_RDONLY)
            guard fd >= 0, fsync(fd) == 0 else {
                if fd >= 0 { close(fd) }
                throw NodeStartError("cannot sync \(file): \(String(cString: strerror(errno)))")
            }
            close(fd)
        }
    }

    /// The node's identity, made once and kept in the data directory.

    static func persistentNodeID(in directory: String) throws -> NodeID {
        let path = directory + "/node.id"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !id.isEmpty { return NodeID(id) }
        }
        var random = SystemRandomNumberGenerator()
        let id = "node-" + String(random.next() & 0xFFFF_FFFF, radix: 16)
        do {
            try (id + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw NodeStartError("cannot write \(path): \(error.localizedDescription)")
        }
        return NodeID(id)
    }
}

/// The node as a service: answers the core's Hive calls until shutdown, then stops taking
/// connections, lets in-flight NBD commands finish (new ones get ESHUTDOWN), and syncs.
struct NodeService: Service {
    let runtime: NodeRuntime
    let hive: any HiveEngine
    let hiveCalls: AsyncStream<(HiveCallID, HiveRequest)>
    let hiveContinuation: AsyncStream<(HiveCallID, HiveRequest)>.Continuation
    let listeners: [Channel]
    let registry: NBDConnectionRegistry
    let loop: any EventLoop
    let transport: PeerTransport?
    /// WAN emulation: the round trip each of the core's Hive calls waits (half each way).
    let hiveDelayMs: Double?
    let logger: Logger

    /// How often a cluster node reads the member list (joiners and their new addresses).
    static let membersRefreshMs = 1000

    func run() async throws {
        await withDiscardingTaskGroup { group in
            if let delay = hiveDelayMs {
                // Emulated distance to Hive, as a FIFO line each way: a call reaches Hive half
                // a round trip after the core made it, calls are applied one at a time in the
                // order they were made (as without the delay), and each answer arrives half a
                // round trip after it was given. Calls in flight overlap, as over a WAN.
                let oneWay = Swift.Duration.microseconds(Int64(delay * 500))
                let clock = ContinuousClock()
                let (toHive, toHiveInput) = AsyncStream.makeStream(of: (ContinuousClock.Instant, HiveCallID, HiveRequest).self)
                let (answers, answersInput) = AsyncStream.makeStream(of: (ContinuousClock.Instant, HiveCallID, HiveResponse).self)
                group.addTask {
                    for await (call, request) in hiveCalls { toHiveInput.yield((clock.now + oneWay, call, request)) }
                    toHiveInput.finish()
                }
                group.addTask {
                    for await (arrives, call, request) in toHive {
                        try? await clock.sleep(until: arrives)
                        answersInput.yield((clock.now + oneWay, call, await hive.answer(request)))
                    }
                    answersInput.finish()
                }
                group.addTask {
                    for await (arrives, call, response) in answers {
                        try? await clock.sleep(until: arrives)
                        await runtime.input(.hive(call, response))
                    }
                }
            } else {
                group.addTask {
                    for await (call, request) in hiveCalls {
                        let response = await hive.answer(request)
                        await runtime.input(.hive(call, response))
                    }
                }
            }
            if transport != nil {
                // Lease records other nodes write (claims for this node among them), in
                // Hive's order; behind the emulated distance to Hive when there is one.
                let oneWay = Swift.Duration.microseconds(Int64((hiveDelayMs ?? 0) * 500))
                let clock = ContinuousClock()
                let (watched, watchedInput) = AsyncStream.makeStream(of: (ContinuousClock.Instant, BlockKey, LeaseRecord).self)
                group.addTask {
                    await hive.watchLeases { key, record in watchedInput.yield((clock.now + oneWay, key, record)) }
                    watchedInput.finish()
                }
                group.addTask {
                    for await (arrives, key, record) in watched {
                        try? await clock.sleep(until: arrives)
                        await runtime.input(.hiveWatch(key, record))
                    }
                }
                if let ttl = (hive as? EtcdHive)?.aliveTTLSeconds {
                    group.addTask {
                        // Every third of the TTL, as etcd's own clients do: two may be lost.
                        let id = await runtime.core.id
                        while !Task.isCancelled && !Task.isShuttingDownGracefully {
                            try? await Task.sleep(for: .milliseconds(ttl * 1000 / 3))
                            // A node that failed stop lets its membership lapse, so that live
                            // nodes take over the blocks it held.
                            if await runtime.failed != nil { continue }
                            do {
                                try await hive.keepAlive(id)
                            } catch {
                                logger.warning("cannot renew this node's keep-alive in Hive: \(error)")
                            }
                        }
                    }
                }
                group.addTask {
                    var acknowledged = 0
                    while !Task.isCancelled && !Task.isShuttingDownGracefully {
                        try? await Task.sleep(for: .milliseconds(Self.membersRefreshMs))
                        if let members = try? await hive.members() {
                            await runtime.setMembers(members)
                            if let lapsed = try? await hive.lapsedMembers() { await runtime.setLapsed(lapsed) }
                            if let paused = try? await hive.placementPaused() { await runtime.setPlacementPaused(paused) }
                            if let drained = try? await hive.drainedNodes() { await runtime.setDrained(drained) }
                            if members.count != acknowledged,
                                (try? await hive.acknowledgeMembers(runtime.core.id, count: members.count)) != nil
                            {
                                acknowledged = members.count
                            }
                        }
                        if let volumes = try? await hive.volumes(), volumes != (await runtime.volumes) {
                            do {
                                try await runtime.adoptVolumes(volumes)
                            } catch {
                                logger.error("cannot adopt the cluster's volumes: \(error)")
                            }
                        }
                    }
                }
            }
            try? await gracefulShutdown()
            logger.info("shutting down: draining NBD connections")
            for listener in listeners { try? await listener.close() }
            try? await registry.shutdown(on: loop).get()
            await runtime.close()
            await transport?.close()
            hiveContinuation.finish()
            group.cancelAll()
        }
    }
}

#if os(Linux)
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
