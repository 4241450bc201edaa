import LisCore
import LisHTTP

/// `lis node drain NODE`: before maintenance, every lease the node holds moves to another node
/// — in its own region if one is alive there, else in the nearest region each volume allows —
/// and Hive marks it drained, so nothing moves back until `lis node undrain NODE`.
extension NodeAPIService {
    func node(named name: String) async throws(APIError) -> NodeDrainInfo {
        let (member, held, drained) = try await heldBlocks(of: name)
        return NodeDrainInfo(
            node: name, region: member.region.name, drained: drained.contains(member.node), held_blocks: held.values.reduce(0) { $0 + $1.count })
    }

    func drainNode(named name: String, drained: Bool) async throws(APIError) -> NodeDrainInfo {
        let node = NodeID(name)
        do {
            try await hive.setDrained(node, drained)
            await runtime.setDrained(try await hive.drainedNodes())
        } catch {
            throw Self.apiError(error)
        }
        guard drained else { return try await self.node(named: name) }
        let (member, held, _) = try await heldBlocks(of: name)
        let members = (try? await hive.members()) ?? []
        let lapsed = (try? await hive.lapsedMembers()) ?? []
        let drainedNodes = (try? await hive.drainedNodes()) ?? [node]
        let live = Set(members.filter { !lapsed.contains($0.node) && !drainedNodes.contains($0.node) }.map(\.region))
        let (rtt, _) = await runtime.dashboardFigures()
        var moving: [String: Int] = [:]
        for (volumeName, keys) in held.sorted(by: { $0.key < $1.key }) where !keys.isEmpty {
            guard let volume = await runtime.volumeByName[volumeName] else { continue }
            // Its own region first, then the others by measured round trip.
            let candidates = [member.region] + live.subtracting([member.region]).sorted {
                (rtt[member.region]?[$0] ?? .infinity, $0.name) < (rtt[member.region]?[$1] ?? .infinity, $1.name)
            }
            guard let target = candidates.first(where: { live.contains($0) && volume.allows($0) }) else {
                throw APIError(
                    status: .conflict,
                    message: "no live, undrained node in a region \(volumeName) may use can take its blocks from \(name); "
                        + "undrain a node or unpin the volume first")
            }
            for start in stride(from: 0, to: keys.count, by: NodeCore.maxRequestedBlocks) {
                let chunk = Array(keys[start..<min(keys.count, start + NodeCore.maxRequestedBlocks)])
                guard let taker = await runtime.requestMove(chunk, to: target) else {
                    throw APIError(status: .serviceUnavailable, message: "no live node in \(target) to take \(volumeName)'s blocks")
                }
                moving[taker.name, default: 0] += chunk.count
            }
        }
        return NodeDrainInfo(
            node: name, region: member.region.name, drained: true, held_blocks: held.values.reduce(0) { $0 + $1.count }, moving: moving)
    }

    /// The blocks `name` holds, by volume: active lease records naming it and, if it is its
    /// region's home node, the never-moved blocks of the region's volumes.
    private func heldBlocks(of name: String) async throws(APIError) -> (HiveMember, [String: [BlockKey]], Set<NodeID>) {
        let node = NodeID(name)
        do {
            let members = try await hive.members()
            guard let member = members.first(where: { $0.node == node }) else {
                throw APIError.notFound(
                    "no member named \(name); the members: \(members.map(\.node.name).joined(separator: ", "))")
            }
            let isHome = members.first(where: { $0.region == member.region })?.node == node
            var held: [String: [BlockKey]] = [:]
            for volume in try await hive.volumes() {
                let records = try await hive.records(of: volume.name)
                var keys = records.filter { $0.1.holder == node && $0.1.state == .active }.map(\.0)
                if isHome && volume.home == member.region {
                    let recorded = Set(records.map(\.0))
                    keys += (0..<volume.blockCount).map { BlockKey(volume.name, BlockID($0)) }.filter { !recorded.contains($0) }
                }
                held[volume.name.name] = keys.sorted { $0.block.index < $1.block.index }
            }
            return (member, held, try await hive.drainedNodes())
        } catch let error as APIError {
            throw error
        } catch let error as HiveError {
            throw Self.apiError(error)
        } catch {
            throw APIError(status: .internalServerError, message: "\(error)")
        }
    }
}
