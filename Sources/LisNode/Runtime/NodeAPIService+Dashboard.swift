import AsyncHTTPClient
import Foundation
import LisCore
import LisHTTP
import NIOCore
import NIOPosix

/// The dashboard's view of a node: Hive's members, volumes and lease records, the round trips
/// the core measured, and every member's activity log, read from each member's
/// `GET /v1/activity` and merged (each node records only its own clients and decisions).
extension NodeAPIService: DashboardSource {
    var tickSeconds: Double { 2 }

    func nowMs() async -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func dashboardState() async throws(APIError) -> DashboardState {
        var members: [HiveMember] = []
        var lapsed: Set<NodeID> = []
        var hiveError: String?
        var holders: [String: [UInt64: String]] = [:]
        let paused = await runtime.placementPaused
        do {
            members = try await hive.members()
            lapsed = try await hive.lapsedMembers()
            let regionOf = Dictionary(members.map { ($0.node, $0.region.name) }, uniquingKeysWith: { _, last in last })
            for volume in await runtime.volumes {
                for (key, record) in try await hive.records(of: volume.name) {
                    holders[volume.name.name, default: [:]][key.block.index] = regionOf[record.holder] ?? record.holder.name
                }
            }
        } catch {
            hiveError = "\(error)"
        }
        let (rtt, hiveMs) = await runtime.dashboardFigures()
        var regions: [RegionID] = []
        var nodes: [RegionID: [String]] = [:]
        for member in members {
            if nodes[member.region] == nil { regions.append(member.region) }
            nodes[member.region, default: []].append(member.node.name + (lapsed.contains(member.node) ? " (lapsed)" : ""))
        }
        if regions.isEmpty { regions = [settings.region] }
        let volumes = await runtime.volumes.map(VolumeInfo.init)
        return DashboardState(
            kind: "node",
            title: settings.cluster.peerAddress == nil
                ? "one-node cluster, node \(nodeID)" : "cluster \(settings.cluster.name), seen from \(nodeID) in \(settings.region)",
            nowMs: await nowMs(), policy: settings.policy.name.rawValue, paused: paused,
            regions: regions.map { region in
                Overview.Region(
                    name: region.name, nodes: nodes[region] ?? [nodeID.name],
                    rtt_ms: Dictionary(
                        uniqueKeysWithValues: regions.filter { $0 != region }.map { other in (other.name, rtt[region]?[other]) }))
            },
            hive: Overview.Hive(
                engine: settings.hive.engine.rawValue, ok: hiveError == nil,
                rtt_ms: hiveMs, error: hiveError),
            // The last 30 minutes, or since this node started: a young cluster's map is not
            // mostly empty columns.
            volumes: volumes, holders: holders, clock: nil,
            defaultWindowMs: min(30 * 60 * 1000, Int64(await runtime.uptimeSeconds * 1000) + 10_000))
    }

    func localActivity(sinceMs: Int64, untilMs: Int64) async -> ActivitySnapshot {
        await runtime.activitySnapshot(sinceMs: sinceMs, untilMs: untilMs)
    }

    /// This node's activity and every other live member's, read over HTTP (at most 2 s each);
    /// a member that does not answer is named in `missing`.
    func activity(sinceMs: Int64, untilMs: Int64) async throws(APIError) -> ActivitySnapshot {
        var merged = await localActivity(sinceMs: sinceMs, untilMs: untilMs)
        let others = ((try? await hive.members()) ?? []).filter { $0.node != nodeID }
        let lapsed = (try? await hive.lapsedMembers()) ?? []
        await withTaskGroup(of: (String, ActivitySnapshot?).self) { group in
            for member in others where !lapsed.contains(member.node) {
                group.addTask {
                    guard let http = member.http else { return (member.node.name, nil) }
                    return (member.node.name, await Self.fetchActivity(http, sinceMs: sinceMs, untilMs: untilMs, token: apiToken))
                }
            }
            for await (node, snapshot) in group {
                if let snapshot, snapshot.column_ms == merged.column_ms { merged.merge(snapshot) } else { merged.missing.append(node) }
            }
        }
        merged.missing.sort()
        return merged
    }

    func setClock(_ request: SetClockRequest) async throws(APIError) -> ClockInfo {
        throw APIError(status: .conflict, message: "a node runs on the wall clock; only a simulated run (lis sim run --serve) has a clock to set")
    }

    func decisions() -> AsyncStream<Decision> { runtime.decisionFeed.subscribe() }

    private static let client = HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup)

    static func fetchActivity(_ http: String, sinceMs: Int64, untilMs: Int64, token: String?) async -> ActivitySnapshot? {
        var request = HTTPClientRequest(url: "http://\(http)/v1/activity?since_ms=\(sinceMs)&until_ms=\(untilMs)")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        do {
            let response = try await client.execute(request, timeout: .seconds(2))
            guard response.status == .ok else { return nil }
            let body = try await response.body.collect(upTo: 64 << 20)
            return try JSONDecoder().decode(ActivitySnapshot.self, from: Data(buffer: body))
        } catch {
            return nil
        }
    }
}
