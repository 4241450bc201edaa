#if canImport(Glibc)
    import Glibc
#endif
import LisCore
import LisNBD
import LisHTTP

/// The HTTP API's view of a node: status and volume management, going through Hive (the
/// source of truth for volumes) and then the runtime (storage and the core).
struct NodeAPIService: NodeAPI {
    let runtime: NodeRuntime
    let hive: any HiveEngine
    let settings: NodeSettings
    let nodeID: NodeID
    let registry: NBDConnectionRegistry
    /// The cluster's API token, sent when reading other members' activity; nil without a join secret.
    let apiToken: String?

    func status() async -> NodeStatus {
        let (volumes, served, uptime) = await runtime.statusFigures()
        return NodeStatus(
            node_id: nodeID.name, region: settings.region.name, version: LisVersion.current, uptime_seconds: uptime,
            data_dir: settings.dataDirectory, hive: settings.hive.engine.rawValue, nbd_unix_socket: settings.nbdSocket,
            nbd_tcp_address: settings.nbdAddress, http_address: settings.httpAddress, volumes: volumes,
            held_blocks: served, open_connections: registry.openConnections, disk: Self.disk(of: settings.dataDirectory))
    }

    /// The file system holding `directory`, as `df` shows it.
    static func disk(of directory: String) -> DiskFigures? {
        var figures = statvfs()
        guard statvfs(directory, &figures) == 0 else { return nil }
        let unit = UInt64(figures.f_frsize)
        let total = UInt64(figures.f_blocks) * unit
        return DiskFigures(
            total_bytes: total, available_bytes: UInt64(figures.f_bavail) * unit,
            used_bytes: total - UInt64(figures.f_bfree) * unit)
    }

    /// The runtime's metrics, with what other parts count read now.
    func metrics() async -> String {
        let (served, failed, transport) = await runtime.metricFigures()
        let metrics = runtime.metrics
        metrics.set(NodeMetrics.blocksHeld, to: Double(served))
        metrics.set(NodeMetrics.failed, to: failed ? 1 : 0)
        metrics.set(NodeMetrics.nbdConnections, to: Double(registry.openConnections))
        if let transport { NodeMetrics.record(transport, in: metrics) }
        return metrics.text()
    }

    func cluster() async throws(APIError) -> ClusterInfo {
        let members: [HiveMember]
        let lapsed: Set<NodeID>
        var held: [NodeID: Int] = [:]
        do {
            members = try await hive.members()
            lapsed = try await hive.lapsedMembers()
            for volume in try await hive.volumes() {
                for (_, record) in try await hive.records(of: volume.name) where record.state == .active {
                    held[record.holder, default: 0] += 1
                }
            }
        } catch {
            throw Self.apiError(error)
        }
        var homes: Set<RegionID> = []
        let infos = members.map { member in
            MemberInfo(
                node_id: member.node.name, region: member.region.name, address: member.address,
                home: homes.insert(member.region).inserted, moved_blocks_held: held[member.node] ?? 0,
                lapsed: lapsed.contains(member.node))
        }
        let (rtts, served, steals, peers, inFlight) = await runtime.clusterFigures()
        return ClusterInfo(
            cluster: settings.cluster.peerAddress == nil ? nil : settings.cluster.name, hive: settings.hive.engine.rawValue,
            node_id: nodeID.name, region: settings.region.name, members: infos, measured_rtt_ms: rtts, held_blocks: served,
            steals_in_flight: steals,
            peers: peers.map {
                PeerCounters(
                    sent: $0.sent, delivered: $0.delivered, authenticated: $0.authenticated,
                    unauthenticated: $0.unauthenticated, malformed: $0.malformed, wrong_sender: $0.wrongSender,
                    dropped: $0.dropped)
            }, in_flight: inFlight)
    }

    func faults() async throws(APIError) -> FaultSwitches {
        let transport = try await faultTransport()
        return FaultSwitches(
            peers: Dictionary(
                uniqueKeysWithValues: transport.faults.map {
                    (
                        $0.key.name,
                        FaultSwitches.Peer(
                            send_loss: $0.value.sendLoss, receive_loss: $0.value.receiveLoss, delay_factor: $0.value.delayFactor)
                    )
                }))
    }

    func setFaults(_ faults: FaultSwitches) async throws(APIError) -> FaultSwitches {
        let transport = try await faultTransport()
        let members = Set(((try? await hive.members()) ?? []).map(\.node.name))
        var switched: [NodeID: PeerFault] = [:]
        for (peer, fault) in faults.peers.sorted(by: { $0.key < $1.key }) {
            guard members.contains(peer), peer != nodeID.name else {
                throw APIError.badRequest("\(peer) is not another member of this cluster")
            }
            for (name, loss) in [("send_loss", fault.send_loss), ("receive_loss", fault.receive_loss)] where !(0...1).contains(loss) {
                throw APIError.badRequest("peers.\(peer).\(name) must be a share from 0 to 1, got \(loss)")
            }
            let factor = fault.delay_factor ?? 1
            guard (1...1000).contains(factor) else {
                throw APIError.badRequest("peers.\(peer).delay_factor must be from 1 to 1000, got \(factor)")
            }
            switched[NodeID(peer)] = PeerFault(sendLoss: fault.send_loss, receiveLoss: fault.receive_loss, delayFactor: factor)
        }
        transport.faults = switched
        return try await self.faults()
    }

    /// Fault switches exist for tests and demos: only on a node whose WAN is emulated.
    private func faultTransport() async throws(APIError) -> PeerTransport {
        guard settings.wanTopology != nil, let transport = await runtime.transport else {
            throw APIError(
                status: .conflict, message: "fault switches exist only on a cluster node with WAN emulation ([wan] topology)")
        }
        return transport
    }

    func moves() async -> [MoveInfo] {
        await runtime.recentMoves()
    }

    func listVolumes() async -> [VolumeInfo] {
        await runtime.volumes.map(VolumeInfo.init)
    }

    func volume(named name: String) async -> VolumeInfo? {
        await runtime.volumeByName[name].map(VolumeInfo.init)
    }

    func createVolume(_ request: CreateVolumeRequest) async throws(APIError) -> VolumeInfo {
        let spec = try VolumeRequestValidation.spec(from: request, defaults: settings.volumeDefaults, localRegion: settings.region)
        // Any region with a member can be a volume's home.
        let regions = Set((try? await hive.members())?.map(\.region) ?? []).union([settings.region])
        guard regions.contains(spec.home) else {
            let known = regions.map(\.name).sorted().joined(separator: ", ")
            throw APIError(status: .badRequest, message: "unknown region \(spec.home); this cluster's regions: \(known)")
        }
        do {
            try await hive.createVolume(spec)
        } catch {
            throw Self.apiError(error)
        }
        do {
            try await runtime.createVolumeStorage(spec)
        } catch {
            try? await hive.deleteVolume(spec.name)
            throw APIError(status: .internalServerError, message: "could not create the volume's storage: \(error)")
        }
        await refreshVolumes()
        return VolumeInfo(spec)
    }

    func deleteVolume(named name: String) async throws(APIError) {
        let volume = VolumeName(name)
        do {
            try await hive.deleteVolume(volume)
        } catch {
            throw Self.apiError(error)
        }
        await refreshVolumes()
        do {
            try await runtime.deleteVolumeStorage(volume)
        } catch {
            throw APIError(status: .internalServerError, message: "the volume is gone from the cluster, but its data file could not be removed: \(error)")
        }
    }

    func resizeVolume(named name: String, _ request: ResizeVolumeRequest) async throws(APIError) -> VolumeInfo {
        guard var spec = await runtime.volumeByName[name] else {
            throw APIError(status: .notFound, message: "no volume named \(name)")
        }
        let size = try VolumeRequestValidation.size(request.size, key: "size")
        guard size >= spec.sizeBytes else {
            throw APIError(status: .badRequest, message: "volumes only grow: \(name) is \(ByteSize.format(spec.sizeBytes)), asked for \(ByteSize.format(size))")
        }
        spec.sizeBytes = size
        do {
            try await runtime.resizeVolumeStorage(spec)
            try await hive.updateVolume(spec)
        } catch let error as HiveError {
            throw Self.apiError(error)
        } catch {
            throw APIError(status: .internalServerError, message: "could not grow the volume's storage: \(error)")
        }
        await refreshVolumes()
        return VolumeInfo(spec)
    }

    /// Checks what Hive cannot say in a sentence (which blocks stand in the way), then lets
    /// Hive make the change: its check against every lease record is the one that counts.
    func pinVolume(named name: String, _ request: PinVolumeRequest) async throws(APIError) -> VolumeInfo {
        guard var spec = await runtime.volumeByName[name] else {
            throw APIError.notFound("no volume named \(name); `GET /v1/volumes` lists them")
        }
        let allowed = try request.allowed_regions.map { names throws(APIError) in
            try VolumeRequestValidation.allowedRegions(names, home: spec.home)
        }
        var pinned = spec
        pinned.allowedRegions = allowed
        do {
            let members = try await hive.members()
            let regionOf = Dictionary(members.map { ($0.node, $0.region) }, uniquingKeysWith: { _, last in last })
            let known = Set(members.map(\.region))
            if let unknown = allowed?.first(where: { !known.contains($0) }) {
                throw APIError.badRequest(
                    "no member in region \(unknown); the cluster's regions: \(known.map(\.name).sorted().joined(separator: ", "))")
            }
            var outside: [RegionID: [UInt64]] = [:]
            for (key, record) in try await hive.records(of: spec.name) {
                if let region = regionOf[record.holder], !pinned.allows(region) { outside[region, default: []].append(key.block.index) }
            }
            if let (region, blocks) = outside.min(by: { $0.key < $1.key }) {
                let target = allowed?.first ?? spec.home
                let list = blocks.prefix(8).map(String.init).joined(separator: ", ") + (blocks.count > 8 ? " …" : "")
                throw APIError(
                    status: .conflict,
                    message: "\(blocks.count) block(s) of \(name) are held in \(region), which the pin leaves out (\(list)); "
                        + "move them first, e.g. lis block move \(name):\(blocks[0]) --to \(target)")
            }
        } catch let error as APIError {
            throw error
        } catch let error as HiveError {
            throw Self.apiError(error)
        } catch {
            throw APIError(status: .internalServerError, message: "\(error)")
        }
        // The never-moved blocks' term (epoch 0) has no lease record: every node derives its
        // Q2 from the spec. A pin that changed it would let a stealer fence a majority of other
        // regions than the holder's writes reached.
        let homeQuorum = await runtime.homeQuorumRegions(of: spec)
        guard await runtime.homeQuorumRegions(of: pinned) == homeQuorum else {
            throw APIError.badRequest(
                "\(name) survives the loss of a region: its home \(spec.home) keeps copies in "
                    + "\(homeQuorum.map(\.name).joined(separator: " and ")), and a pin must keep allowing them")
        }
        spec = pinned
        do {
            try await hive.updateVolume(spec)
        } catch {
            throw Self.apiError(error)
        }
        await refreshVolumes()
        return VolumeInfo(spec)
    }

    private func refreshVolumes() async {
        if let volumes = try? await hive.volumes() { await runtime.setVolumes(volumes) }
    }

    func moveBlocks(_ request: MoveBlocksRequest) async throws(APIError) -> MoveBlocksAccepted {
        guard let volume = await runtime.volumeByName[request.volume] else {
            throw APIError.notFound("no volume named \(request.volume); `GET /v1/volumes` lists them")
        }
        let last = request.last ?? request.first
        guard request.first <= last, last < volume.blockCount else {
            throw APIError.badRequest(
                "blocks \(request.first)–\(last) are not a range of \(request.volume)'s blocks 0–\(volume.blockCount - 1)")
        }
        guard last - request.first < UInt64(NodeCore.maxRequestedBlocks) else {
            throw APIError.badRequest("at most \(NodeCore.maxRequestedBlocks) blocks per move, got \(last - request.first + 1)")
        }
        let target = RegionID(request.to)
        let regions = await runtime.regions
        guard regions.contains(target) else {
            throw APIError.badRequest(
                "no member in region \(request.to); the cluster's regions: \(regions.map(\.name).sorted().joined(separator: ", "))")
        }
        guard volume.allows(target) else {
            throw APIError.badRequest(
                "\(request.volume) may live only in \(volume.allowedRegions?.map(\.name).joined(separator: ", ") ?? "")")
        }
        let keys = (request.first...last).map { BlockKey(volume.name, BlockID($0)) }
        guard let taker = await runtime.requestMove(keys, to: target) else {
            throw APIError(status: .serviceUnavailable, message: "every member in \(request.to) lapsed in Hive; try again when one is alive")
        }
        return MoveBlocksAccepted(volume: request.volume, first: request.first, last: last, to: request.to, node: taker.name)
    }

    func policy() async -> PolicyInfo {
        PolicyInfo(policy: settings.policy.name.rawValue, paused: await runtime.placementPaused)
    }

    /// Hive first: it is what every node follows (each reads it every second) and what a node
    /// that restarts starts with; then this node, at once.
    func setPolicy(_ request: SetPolicyRequest) async throws(APIError) -> PolicyInfo {
        do {
            try await hive.setPlacementPaused(request.paused)
        } catch {
            throw Self.apiError(error)
        }
        await runtime.setPlacementPaused(request.paused)
        return await policy()
    }

    func blocks(ofVolume name: String) async throws(APIError) -> VolumeBlocks {
        guard let volume = await runtime.volumeByName[name] else {
            throw APIError.notFound("no volume named \(name); `GET /v1/volumes` lists them")
        }
        do {
            let regions = Dictionary(try await hive.members().map { ($0.node, $0.region) }, uniquingKeysWith: { _, last in last })
            let moved = try await hive.records(of: volume.name).sorted(by: { $0.0.block.index < $1.0.block.index }).map { key, record in
                VolumeBlocks.Lease(
                    block: key.block.index, holder: record.holder.name, region: regions[record.holder]?.name,
                    epoch: record.epoch.value, state: record.state.rawValue)
            }
            return VolumeBlocks(volume: name, home: volume.home.name, blocks: volume.blockCount, moved: moved)
        } catch {
            throw Self.apiError(error)
        }
    }

    static func apiError(_ error: HiveError) -> APIError {
        switch error {
        case .volumeExists: APIError(status: .conflict, message: error.message)
        case .noSuchVolume: APIError(status: .notFound, message: error.message)
        case .pinned, .invalid: APIError(status: .badRequest, message: error.message)
        case .storage: APIError(status: .internalServerError, message: error.description)
        case .retryLater: APIError(status: .serviceUnavailable, message: error.message)
        }
    }
}

/// The version `lis` reports.
public enum LisVersion {
    public static let current = "0.1.0"
}
