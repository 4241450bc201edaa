import AsyncHTTPClient
import Foundation
import LisCore
import NIOCore
import Synchronization

/// Hive in etcd: the engine of a real cluster (`[hive] engine = "etcd"`). etcd is Raft-replicated
/// and Jepsen-tested; every call here is one etcd transaction or a linearizable range read, so
/// the engine is linearizable because etcd is, and durable once etcd acknowledged.
///
/// Keys, under a prefix (`/lis/` by default) so that clusters can share an etcd:
///
///     members/<node>                  {"region":…,"address":…,"http":…} region written once
///     settings/drained/<node>         "true"                          while an operator drained it
///     acks/<node>                     {"seen":…}                       members the node uses
///     alive/<node>                    {}                               under the node's etcd lease
///     volumes/<volume>                {"size_bytes":…,"home":…,…}
///     leases/<volume>/<block, 20 digits>  {"epoch":…,"holder":…,…}     a moved block's record
///
/// Values are JSON with sorted keys, so one record has one byte string: a compare-and-set
/// compares the stored bytes with the expected record's in the same transaction that writes
/// the new one, and checks that the volume's spec it validated against is still current.
public final class EtcdHive: HiveEngine {
    let gateway: EtcdGateway
    let prefix: String
    /// Specs (with the revision they were read at) and members, so that a compare-and-set is
    /// one round trip. A member's region never changes; a stale spec fails the transaction's
    /// compare on its revision, and is read again.
    private let cache = Mutex(Cache())

    private struct Cache {
        var volumes: [VolumeName: (spec: VolumeSpec, revision: Int64)] = [:]
        var regions: [NodeID: RegionID] = [:]
        /// This node's etcd lease for its `alive/` key.
        var aliveLease: Int64?
    }

    /// How long a member stays alive without a keep-alive. Short enough that a dead holder's
    /// blocks are taken over within a client's forward budget (12 attempts, PROTOCOL.md
    /// "Forwards"), long enough that a node stalled by its machine for a moment keeps them.
    public let aliveTTLSeconds: Int

    /// `endpoints`: `http://host:port` of etcd members (tried in order). `prefix`: where this
    /// cluster's keys live; it must end in `/`. `timeout`: the longest one call may take.
    public init(
        endpoints: [String], prefix: String = "/lis/", timeout: TimeAmount = .seconds(5), aliveTTLSeconds: Int = 6
    ) throws(HiveError) {
        self.aliveTTLSeconds = aliveTTLSeconds
        guard !endpoints.isEmpty else { throw .invalid("etcd needs at least one endpoint (http://host:port)") }
        for endpoint in endpoints where !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
            throw .invalid("etcd endpoint \(endpoint) must start with http:// or https://")
        }
        guard prefix.hasPrefix("/"), prefix.hasSuffix("/") else {
            throw .invalid("the etcd key prefix \(prefix) must start and end with /")
        }
        gateway = EtcdGateway(
            endpoints: endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 },
            timeout: timeout)
        self.prefix = prefix
    }

    // MARK: Keys

    private func memberKey(_ node: NodeID) -> String { prefix + "members/" + node.name }
    private var membersPrefix: String { prefix + "members/" }
    private var acksPrefix: String { prefix + "acks/" }
    private var alivePrefix: String { prefix + "alive/" }
    private func volumeKey(_ name: VolumeName) -> String { prefix + "volumes/" + name.name }
    private var volumesPrefix: String { prefix + "volumes/" }
    private func leasesPrefix(_ volume: VolumeName) -> String { prefix + "leases/" + volume.name + "/" }
    private func leaseKey(_ key: BlockKey) -> String {
        // Zero-padded so that etcd's byte order is block order.
        let digits = String(key.block.index)
        return leasesPrefix(key.volume) + String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    // MARK: HiveEngine

    public func register(_ member: HiveMember) async throws(HiveError) {
        let key = memberKey(member.node)
        let value = StoredMember(region: member.region.name, address: member.address, http: member.http).json
        while true {
            let read = try await call {
                try await gateway.read([.get(key), .list(prefix: membersPrefix), .list(prefix: acksPrefix)])
            }
            if let stored = read.ranges[0].first {
                let known = try StoredMember.decode(stored.value, what: key)
                let region = RegionID(known.region)
                if region != member.region {
                    throw .invalid(
                        "node \(member.node) is a member of region \(region) and cannot move to region "
                            + "\(member.region); give the node a new id (or a new data dir) instead")
                }
                if known.address != member.address || known.http != member.http {
                    // The same node, at a new address: replace the record it read, or read again.
                    let result = try await call {
                        try await gateway.txn([.modified(key, at: stored.modRevision)], success: [.put(key, value)])
                    }
                    if !result.succeeded { continue }
                }
                break
            }
            // A new node: every member must have seen every member first.
            let members = read.ranges[1]
            var seen: [String: Int] = [:]
            for kv in read.ranges[2] {
                seen[String(kv.key.dropFirst(acksPrefix.count))] = try StoredAck.decode(kv.value, what: kv.key).seen
            }
            if let lagging = members.map({ String($0.key.dropFirst(membersPrefix.count)) }).first(where: {
                (seen[$0] ?? 0) < members.count
            }) {
                throw .retryLater(
                    "node \(member.node) waits to join: member \(lagging) has not yet seen every node that joined before it")
            }
            let result = try await call {
                try await gateway.txn(
                    [.absent(key), .unchanged(prefix: membersPrefix, since: read.revision),
                     .unchanged(prefix: acksPrefix, since: read.revision)],
                    success: [.put(key, value)])
            }
            if result.succeeded { break }
        }
        cache.withLock { $0.regions[member.node] = member.region }
    }

    public func acknowledgeMembers(_ node: NodeID, count: Int) async throws(HiveError) {
        let key = acksPrefix + node.name
        _ = try await call { try await gateway.txn([], success: [.put(key, StoredAck(seen: count).json)]) }
    }

    public func members() async throws(HiveError) -> [HiveMember] {
        let result = try await call { try await gateway.read([.list(prefix: membersPrefix)]) }
        return try (result.ranges.first ?? []).sorted { $0.createRevision < $1.createRevision }.map { kv throws(HiveError) in
            let stored = try StoredMember.decode(kv.value, what: kv.key)
            return HiveMember(
                node: NodeID(String(kv.key.dropFirst(membersPrefix.count))), region: RegionID(stored.region),
                address: stored.address, http: stored.http)
        }
    }

    public func keepAlive(_ node: NodeID) async throws(HiveError) {
        if let lease = cache.withLock({ $0.aliveLease }), try await call({ try await gateway.keepAlive(lease: lease) }) {
            return
        }
        // No lease yet, or it expired (the node stalled longer than the TTL): a new one.
        let lease = try await call { try await gateway.grantLease(ttlSeconds: aliveTTLSeconds) }
        _ = try await call { try await gateway.txn([], success: [.put(alivePrefix + node.name, Data("{}".utf8), lease: lease)]) }
        cache.withLock { $0.aliveLease = lease }
    }

    public func lapsedMembers() async throws(HiveError) -> Set<NodeID> {
        let result = try await call { try await gateway.read([.list(prefix: membersPrefix), .list(prefix: alivePrefix)]) }
        guard result.ranges.count == 2 else { throw Self.corrupt("a read of members and alive keys lost a range") }
        let alive = Set(result.ranges[1].map { String($0.key.dropFirst(alivePrefix.count)) })
        return Set(result.ranges[0].map { String($0.key.dropFirst(membersPrefix.count)) }.filter { !alive.contains($0) }.map(NodeID.init))
    }

    private var placementPausedKey: String { prefix + "settings/placement_paused" }

    public func placementPaused() async throws(HiveError) -> Bool {
        let result = try await call { try await gateway.read([.get(placementPausedKey)]) }
        return result.ranges.first?.first.map { String(decoding: $0.value, as: UTF8.self) == "true" } ?? false
    }

    public func setPlacementPaused(_ paused: Bool) async throws(HiveError) {
        _ = try await call { try await gateway.txn([], success: [.put(placementPausedKey, Data((paused ? "true" : "false").utf8))]) }
    }

    private var drainedPrefix: String { prefix + "settings/drained/" }

    public func drainedNodes() async throws(HiveError) -> Set<NodeID> {
        let result = try await call { try await gateway.read([.list(prefix: drainedPrefix)]) }
        return Set((result.ranges.first ?? []).map { NodeID(String($0.key.dropFirst(drainedPrefix.count))) })
    }

    public func setDrained(_ node: NodeID, _ drained: Bool) async throws(HiveError) {
        let key = drainedPrefix + node.name
        _ = try await call { try await gateway.txn([], success: [drained ? .put(key, Data("true".utf8)) : .delete(key)]) }
    }

    public func volumes() async throws(HiveError) -> [VolumeSpec] {
        let result = try await call { try await gateway.read([.list(prefix: volumesPrefix)]) }
        return try (result.ranges.first ?? []).map { kv throws(HiveError) in
            try StoredVolume.decode(kv.value, what: kv.key)
                .spec(VolumeName(String(kv.key.dropFirst(volumesPrefix.count))))
        }
    }

    public func createVolume(_ volume: VolumeSpec) async throws(HiveError) {
        try HiveChecks.check(volume)
        let key = volumeKey(volume.name)
        let result = try await call {
            try await gateway.txn([.absent(key)], success: [.put(key, StoredVolume(volume).json)])
        }
        if !result.succeeded { throw .volumeExists(volume.name) }
        cache.withLock { $0.volumes[volume.name] = (volume, result.revision) }
    }

    public func updateVolume(_ volume: VolumeSpec) async throws(HiveError) {
        try HiveChecks.check(volume)
        let key = volumeKey(volume.name)
        let leases = leasesPrefix(volume.name)
        while true {
            let read = try await call { try await gateway.read([.get(key), .list(prefix: leases)]) }
            guard let stored = read.ranges.first?.first else { throw .noSuchVolume(volume.name) }
            let old = try StoredVolume.decode(stored.value, what: key).spec(volume.name)
            try HiveChecks.checkUpdate(from: old, to: volume)
            // Pinning holds for records already written too: a narrower allowed list must still
            // allow every current holder (move those blocks first).
            if volume.allowedRegions != nil {
                var regions: Set<RegionID> = []
                for kv in read.ranges.count > 1 ? read.ranges[1] : [] {
                    let holder = NodeID(try StoredLease.decode(kv.value, what: kv.key).holder)
                    regions.insert(try await region(of: holder))
                }
                if let region = regions.sorted().first(where: { !volume.allows($0) }) {
                    throw .pinned(volume.name, region)
                }
            }
            // The spec and every lease record as read: a concurrent steal into a region the
            // new list leaves out makes this fail, and the check runs again.
            let result = try await call {
                try await gateway.txn(
                    [.modified(key, at: stored.modRevision), .unchanged(prefix: leases, since: read.revision)],
                    success: [.put(key, StoredVolume(volume).json)])
            }
            if result.succeeded {
                cache.withLock { $0.volumes[volume.name] = (volume, result.revision) }
                return
            }
        }
    }

    public func deleteVolume(_ name: VolumeName) async throws(HiveError) {
        let key = volumeKey(name)
        let result = try await call {
            try await gateway.txn([.present(key)], success: [.delete(prefix: leasesPrefix(name)), .delete(key)])
        }
        cache.withLock { _ = $0.volumes.removeValue(forKey: name) }
        if !result.succeeded { throw .noSuchVolume(name) }
    }

    public func get(_ key: BlockKey) async throws(HiveError) -> LeaseRecord? {
        let result = try await call { try await gateway.read([.get(leaseKey(key))]) }
        guard let kv = result.ranges.first?.first else { return nil }
        return try StoredLease.decode(kv.value, what: kv.key).record
    }

    public func compareAndSet(_ key: BlockKey, expected: LeaseRecord?, new: LeaseRecord) async throws(HiveError)
        -> (ok: Bool, current: LeaseRecord?)
    {
        let lease = leaseKey(key)
        let newValue = StoredLease(new).json
        // The expected record by its bytes; after a read that found the same record in other
        // bytes (written by another version of Lis), by the revision it was read at.
        var leaseCompare: EtcdGateway.Compare =
            expected.map { .value(lease, equals: StoredLease($0).json) } ?? .absent(lease)
        while true {
            let (volume, volumeRevision) = try await cachedVolume(key.volume)
            if key.block.index >= volume.blockCount {
                throw .invalid(
                    "block \(key.block) is past the end of volume \(key.volume), which has \(volume.blockCount) blocks")
            }
            let region: RegionID
            do {
                region = try await self.region(of: new.holder)
            } catch .invalid {
                throw .invalid("holder \(new.holder) of \(key) is not a member; register the node first")
            }
            if !volume.allows(region) { throw .pinned(key.volume, region) }
            let result = try await call {
                try await gateway.txn(
                    [.modified(volumeKey(key.volume), at: volumeRevision), leaseCompare],
                    success: [.put(lease, newValue)],
                    failure: [.get(volumeKey(key.volume)), .get(lease)])
            }
            if result.succeeded { return (true, new) }
            guard result.ranges.count == 2, let storedVolume = result.ranges[0].first else {
                cache.withLock { _ = $0.volumes.removeValue(forKey: key.volume) }
                throw .noSuchVolume(key.volume)
            }
            if storedVolume.modRevision != volumeRevision {
                // The spec changed (a resize, a new allowed list): validate against the new one.
                let spec = try StoredVolume.decode(storedVolume.value, what: storedVolume.key).spec(key.volume)
                cache.withLock { $0.volumes[key.volume] = (spec, storedVolume.modRevision) }
                continue
            }
            let stored = result.ranges[1].first
            let current = try stored.map { kv throws(HiveError) in try StoredLease.decode(kv.value, what: kv.key).record }
            if current != expected { return (false, current) }
            if let stored { leaseCompare = .modified(lease, at: stored.modRevision) }
        }
    }

    public func records(of volume: VolumeName) async throws(HiveError) -> [(BlockKey, LeaseRecord)] {
        let prefix = leasesPrefix(volume)
        let result = try await call { try await gateway.read([.get(volumeKey(volume)), .list(prefix: prefix)]) }
        guard result.ranges.first?.first != nil else { throw .noSuchVolume(volume) }
        return try (result.ranges.count > 1 ? result.ranges[1] : []).map { kv throws(HiveError) in
            guard let block = UInt64(kv.key.dropFirst(prefix.count)) else {
                throw Self.corrupt("\(kv.key) is not a block's key")
            }
            return (BlockKey(volume, BlockID(block)), try StoredLease.decode(kv.value, what: kv.key).record)
        }
    }

    // MARK: Helpers

    private func cachedVolume(_ name: VolumeName) async throws(HiveError) -> (VolumeSpec, Int64) {
        if let cached = cache.withLock({ $0.volumes[name] }) { return cached }
        let result = try await call { try await gateway.read([.get(volumeKey(name))]) }
        guard let kv = result.ranges.first?.first else { throw .noSuchVolume(name) }
        let spec = try StoredVolume.decode(kv.value, what: kv.key).spec(name)
        cache.withLock { $0.volumes[name] = (spec, kv.modRevision) }
        return (spec, kv.modRevision)
    }

    /// A member's region; `invalid` if the node never registered.
    private func region(of node: NodeID) async throws(HiveError) -> RegionID {
        if let region = cache.withLock({ $0.regions[node] }) { return region }
        let result = try await call { try await gateway.read([.get(memberKey(node))]) }
        guard let kv = result.ranges.first?.first else { throw .invalid("node \(node) is not a member") }
        let region = RegionID(try StoredMember.decode(kv.value, what: kv.key).region)
        cache.withLock { $0.regions[node] = region }
        return region
    }

    private func call<T>(_ body: () async throws -> T) async throws(HiveError) -> T {
        do {
            return try await body()
        } catch let error as EtcdCallError {
            throw .storage(error.message)
        } catch {
            throw .storage("\(error)")
        }
    }

    static func corrupt(_ message: String) -> HiveError { .storage("etcd holds a damaged Hive key: \(message)") }
}

// MARK: Stored values

/// The JSON of Hive's values in etcd. Field names are part of the stored format: change them
/// only with a migration.
private protocol StoredValue: Codable {}

extension StoredValue {
    var json: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Strings, integers and arrays of strings: encoding cannot fail.
        return try! encoder.encode(self)
    }

    static func decode(_ data: Data, what key: String) throws(HiveError) -> Self {
        do {
            return try JSONDecoder().decode(Self.self, from: data)
        } catch {
            throw EtcdHive.corrupt("\(key): \(error)")
        }
    }
}

private struct StoredAck: StoredValue {
    var seen: Int
}

private struct StoredMember: StoredValue {
    var region: String
    var address: String?
    /// Where its HTTP API answers (members read each other's dashboard activity there).
    var http: String?
}

private struct StoredVolume: StoredValue {
    var size_bytes: UInt64
    var block_size_bytes: UInt64
    var home: String
    var survive: String
    var allowed_regions: [String]?

    init(_ spec: VolumeSpec) {
        size_bytes = spec.sizeBytes
        block_size_bytes = spec.blockSizeBytes
        home = spec.home.name
        survive = spec.survive.rawValue
        allowed_regions = spec.allowedRegions?.map(\.name)
    }

    func spec(_ name: VolumeName) throws(HiveError) -> VolumeSpec {
        guard let survival = Survival(rawValue: survive) else {
            throw EtcdHive.corrupt("volume \(name) has an unknown survive value \"\(survive)\"")
        }
        return VolumeSpec(
            name: name, sizeBytes: size_bytes, blockSizeBytes: block_size_bytes, home: RegionID(home),
            survive: survival, allowedRegions: allowed_regions?.map(RegionID.init))
    }
}

private struct StoredLease: StoredValue {
    var epoch: UInt64
    var holder: String
    var quorum_regions: [String]
    var state: String
    var last_active_epoch: UInt64
    var last_active_holder: String
    var last_active_quorum_regions: [String]
    var stealer_epoch: UInt64
    var stealer_version: UInt64

    init(_ record: LeaseRecord) {
        epoch = record.epoch.value
        holder = record.holder.name
        quorum_regions = record.quorumRegions.map(\.name)
        state = record.state.rawValue
        last_active_epoch = record.lastActive.epoch.value
        last_active_holder = record.lastActive.holder.name
        last_active_quorum_regions = record.lastActive.quorumRegions.map(\.name)
        stealer_epoch = record.stealerPosition.epoch.value
        stealer_version = record.stealerPosition.version
    }

    var record: LeaseRecord {
        get throws(HiveError) {
            guard let leaseState = LeaseState(rawValue: state) else {
                throw EtcdHive.corrupt("a lease has an unknown state \"\(state)\"")
            }
            return LeaseRecord(
                epoch: Epoch(epoch), holder: NodeID(holder), quorumRegions: quorum_regions.map(RegionID.init),
                state: leaseState,
                lastActive: ActiveTerm(
                    epoch: Epoch(last_active_epoch), holder: NodeID(last_active_holder),
                    quorumRegions: last_active_quorum_regions.map(RegionID.init)),
                stealerPosition: LogPosition(epoch: Epoch(stealer_epoch), version: stealer_version))
        }
    }
}

// MARK: Watching

extension EtcdHive {
    /// The lease prefix's watch (`/v3/watch` on the JSON gateway: one POST, then a stream of
    /// newline-separated results). Starts with a range read of every record and watches from
    /// the revision after it; a broken stream resumes at the revision after the last event
    /// seen; a compacted revision (or a cancelled watch) starts over with a range read. Sends
    /// `Grpc-Metadata-hasleader: true`, so a member without a leader ends the stream instead of
    /// keeping it silently open.
    public func watchLeases(_ deliver: @escaping @Sendable (BlockKey, LeaseRecord) async -> Void) async {
        let prefix = self.prefix + "leases/"
        var resumeAt: Int64? = nil
        var backoffMs: Int64 = 100
        while !Task.isCancelled {
            do {
                if resumeAt == nil {
                    let listed = try await gateway.read([.list(prefix: prefix)])
                    for kv in listed.ranges.first ?? [] {
                        if let (key, record) = try? decodeLease(kv, prefix: prefix) { await deliver(key, record) }
                    }
                    resumeAt = listed.revision + 1
                }
                try await gateway.watch(prefix: prefix, from: resumeAt!) { event in
                    switch event {
                    case .put(let kv):
                        resumeAt = kv.modRevision + 1
                        if let (key, record) = try? self.decodeLease(kv, prefix: prefix) { await deliver(key, record) }
                        backoffMs = 100
                    case .progress(let revision):
                        resumeAt = max(resumeAt ?? 0, revision + 1)
                    case .compacted:
                        resumeAt = nil
                    }
                }
            } catch {
                // The stream ended or etcd is unreachable: try again, a little later each time.
            }
            try? await Task.sleep(for: .milliseconds(backoffMs))
            backoffMs = min(backoffMs * 2, 5000)
        }
    }

    fileprivate func decodeLease(_ kv: EtcdGateway.KeyValue, prefix: String) throws(HiveError) -> (BlockKey, LeaseRecord) {
        let rest = kv.key.dropFirst(prefix.count)
        guard let slash = rest.lastIndex(of: "/"), let block = UInt64(rest[rest.index(after: slash)...]) else {
            throw Self.corrupt("\(kv.key) is not a block's key")
        }
        return (BlockKey(VolumeName(String(rest[..<slash])), BlockID(block)), try StoredLease.decode(kv.value, what: kv.key).record)
    }
}
