// The JSON bodies of the API. Property names are the JSON keys, snake_case, field for field, so
// a reader of the API docs and of this file sees the same names and no CodingKeys can drift.
// Responses write every key, with `null` for an absent optional, so clients see a fixed shape.

import LisCore

/// `GET /v1/status`: who this node is, where it listens and what it serves.
public struct NodeStatus: Codable, Sendable, Equatable {
    public var node_id: String
    public var region: String
    /// The `lis` version, such as `0.1.0`.
    public var version: String
    public var uptime_seconds: Double
    public var data_dir: String
    /// The Hive engine: `embedded` (SQLite) or `etcd`.
    public var hive: String
    public var nbd_unix_socket: String?
    /// `host:port`, or nil if NBD over TCP is off.
    public var nbd_tcp_address: String?
    public var http_address: String
    public var volumes: Int
    /// Blocks whose lease this node holds.
    public var held_blocks: Int
    /// Open NBD connections.
    public var open_connections: Int
    /// The file system of the data directory (nil if it cannot be read).
    public var disk: DiskFigures?

    public init(
        node_id: String, region: String, version: String, uptime_seconds: Double, data_dir: String, hive: String,
        nbd_unix_socket: String?, nbd_tcp_address: String?, http_address: String, volumes: Int, held_blocks: Int,
        open_connections: Int, disk: DiskFigures? = nil
    ) {
        self.node_id = node_id
        self.region = region
        self.version = version
        self.uptime_seconds = uptime_seconds
        self.data_dir = data_dir
        self.hive = hive
        self.nbd_unix_socket = nbd_unix_socket
        self.nbd_tcp_address = nbd_tcp_address
        self.http_address = http_address
        self.volumes = volumes
        self.held_blocks = held_blocks
        self.open_connections = open_connections
        self.disk = disk
    }

    private enum CodingKeys: String, CodingKey {
        case node_id, region, version, uptime_seconds, data_dir, hive, nbd_unix_socket, nbd_tcp_address
        case http_address, volumes, held_blocks, open_connections, disk
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(node_id, forKey: .node_id)
        try c.encode(region, forKey: .region)
        try c.encode(version, forKey: .version)
        try c.encode(uptime_seconds, forKey: .uptime_seconds)
        try c.encode(data_dir, forKey: .data_dir)
        try c.encode(hive, forKey: .hive)
        try c.encode(nbd_unix_socket, forKey: .nbd_unix_socket)
        try c.encode(nbd_tcp_address, forKey: .nbd_tcp_address)
        try c.encode(http_address, forKey: .http_address)
        try c.encode(volumes, forKey: .volumes)
        try c.encode(held_blocks, forKey: .held_blocks)
        try c.encode(open_connections, forKey: .open_connections)
        try c.encode(disk, forKey: .disk)
    }
}

/// A file system's figures in bytes, as `statvfs` gives them (and `df` shows them):
/// `available_bytes` is what the node may still write, so `used + available` can be less
/// than `total` (the blocks reserved for root).
public struct DiskFigures: Codable, Sendable, Equatable {
    public var total_bytes: UInt64
    public var available_bytes: UInt64
    public var used_bytes: UInt64

    public init(total_bytes: UInt64, available_bytes: UInt64, used_bytes: UInt64) {
        self.total_bytes = total_bytes
        self.available_bytes = available_bytes
        self.used_bytes = used_bytes
    }
}

/// A volume as the API shows it (`VolumeSpec` with its block count).
public struct VolumeInfo: Codable, Sendable, Equatable {
    public var name: String
    public var size_bytes: UInt64
    public var block_size_bytes: UInt64
    public var home: String
    /// `node` or `region`.
    public var survive: String
    /// nil (JSON `null`): every region may hold the volume's blocks.
    public var allowed_regions: [String]?
    /// `ceil(size_bytes / block_size_bytes)`.
    public var blocks: UInt64

    public init(
        name: String, size_bytes: UInt64, block_size_bytes: UInt64, home: String, survive: String,
        allowed_regions: [String]?, blocks: UInt64
    ) {
        self.name = name
        self.size_bytes = size_bytes
        self.block_size_bytes = block_size_bytes
        self.home = home
        self.survive = survive
        self.allowed_regions = allowed_regions
        self.blocks = blocks
    }

    /// A volume's spec as the API shows it.
    public init(_ spec: VolumeSpec) {
        self.init(
            name: spec.name.name, size_bytes: spec.sizeBytes, block_size_bytes: spec.blockSizeBytes, home: spec.home.name,
            survive: spec.survive.rawValue, allowed_regions: spec.allowedRegions?.map(\.name), blocks: spec.blockCount)
    }

    private enum CodingKeys: String, CodingKey {
        case name, size_bytes, block_size_bytes, home, survive, allowed_regions, blocks
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(size_bytes, forKey: .size_bytes)
        try c.encode(block_size_bytes, forKey: .block_size_bytes)
        try c.encode(home, forKey: .home)
        try c.encode(survive, forKey: .survive)
        try c.encode(allowed_regions, forKey: .allowed_regions)
        try c.encode(blocks, forKey: .blocks)
    }
}

/// `POST /v1/volumes`. Only `name` and `size` are required; the rest fall back to the node's
/// `[volume]` defaults and its own region. Unknown fields are refused (a misspelt
/// `blocksize` must not silently become the default block size).
public struct CreateVolumeRequest: Codable, Sendable, Equatable {
    public var name: String
    /// `"20G"`, `"1GiB"` or `1073741824`.
    public var size: SizeValue
    public var block_size: SizeValue?
    public var home: String?
    /// `"node"` or `"region"`.
    public var survive: String?
    public var allowed_regions: [String]?

    public init(
        name: String, size: SizeValue, block_size: SizeValue? = nil, home: String? = nil, survive: String? = nil,
        allowed_regions: [String]? = nil
    ) {
        self.name = name
        self.size = size
        self.block_size = block_size
        self.home = home
        self.survive = survive
        self.allowed_regions = allowed_regions
    }

    /// The body as a person would write it, for 400 messages.
    public static let expectedShape =
        #"{"name": "vm-100-disk-0", "size": "20G", "block_size": "1M" (optional), "home": "REGION" (optional), "survive": "node" or "region" (optional), "allowed_regions": ["REGION", ...] (optional)}"#

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case name, size, block_size, home, survive, allowed_regions
    }

    public init(from decoder: any Decoder) throws {
        try UnknownField.check(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        size = try c.decode(SizeValue.self, forKey: .size)
        block_size = try c.decodeIfPresent(SizeValue.self, forKey: .block_size)
        home = try c.decodeIfPresent(String.self, forKey: .home)
        survive = try c.decodeIfPresent(String.self, forKey: .survive)
        allowed_regions = try c.decodeIfPresent([String].self, forKey: .allowed_regions)
    }

    // Encoding (the CLI's side) leaves out absent optionals, so the node applies its defaults.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(size, forKey: .size)
        try c.encodeIfPresent(block_size, forKey: .block_size)
        try c.encodeIfPresent(home, forKey: .home)
        try c.encodeIfPresent(survive, forKey: .survive)
        try c.encodeIfPresent(allowed_regions, forKey: .allowed_regions)
    }
}

/// `POST /v1/volumes/{name}/resize`: the new size. Volumes only grow.
public struct ResizeVolumeRequest: Codable, Sendable, Equatable {
    public var size: SizeValue

    public init(size: SizeValue) { self.size = size }

    /// The body as a person would write it, for 400 messages.
    public static let expectedShape = #"{"size": "40G"}"#

    private enum CodingKeys: String, CodingKey, CaseIterable { case size }

    public init(from decoder: any Decoder) throws {
        try UnknownField.check(decoder, known: CodingKeys.allCases.map(\.rawValue))
        size = try decoder.container(keyedBy: CodingKeys.self).decode(SizeValue.self, forKey: .size)
    }
}

/// A JSON object key that the request type does not have.
struct UnknownField: Error {
    var name: String
    var known: [String]

    /// Throws if the object being decoded has a key outside `known`. Does nothing for a value
    /// that is not an object; the keyed container that follows reports that.
    static func check(_ decoder: any Decoder, known: [String]) throws {
        guard let object = try? decoder.container(keyedBy: AnyKey.self) else { return }
        // Sorted so the message names the same key every time.
        if let unknown = object.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw UnknownField(name: unknown, known: known)
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// `GET /v1/cluster`: the cluster as this node sees it.
public struct ClusterInfo: Codable, Sendable, Equatable {
    /// The cluster's name (`[cluster] name`); nil for a one-node cluster without peers.
    public var cluster: String?
    /// The Hive engine: `embedded` or `etcd`.
    public var hive: String
    public var node_id: String
    public var region: String
    /// Every member, in the order they joined.
    public var members: [MemberInfo]
    /// This node's smoothed round trips to the other regions' home nodes (ping/pong), in ms.
    public var measured_rtt_ms: [String: Double]
    /// Blocks this node serves now, and steals it has in flight.
    public var held_blocks: Int
    public var steals_in_flight: Int
    /// The peer transport's counters; nil without peers.
    public var peers: PeerCounters?
    /// What this node is waiting on; counts that stay up while clients are idle say where
    /// operations are stuck.
    public var in_flight: InFlightInfo

    public init(
        cluster: String?, hive: String, node_id: String, region: String, members: [MemberInfo],
        measured_rtt_ms: [String: Double], held_blocks: Int, steals_in_flight: Int, peers: PeerCounters?,
        in_flight: InFlightInfo
    ) {
        self.in_flight = in_flight
        self.cluster = cluster
        self.hive = hive
        self.node_id = node_id
        self.region = region
        self.members = members
        self.measured_rtt_ms = measured_rtt_ms
        self.held_blocks = held_blocks
        self.steals_in_flight = steals_in_flight
        self.peers = peers
    }

    private enum CodingKeys: String, CodingKey {
        case cluster, hive, node_id, region, members, measured_rtt_ms, held_blocks, steals_in_flight, peers, in_flight
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(cluster, forKey: .cluster)
        try c.encode(hive, forKey: .hive)
        try c.encode(node_id, forKey: .node_id)
        try c.encode(region, forKey: .region)
        try c.encode(members, forKey: .members)
        try c.encode(measured_rtt_ms, forKey: .measured_rtt_ms)
        try c.encode(held_blocks, forKey: .held_blocks)
        try c.encode(steals_in_flight, forKey: .steals_in_flight)
        try c.encode(peers, forKey: .peers)
        try c.encode(in_flight, forKey: .in_flight)
    }
}

public struct MemberInfo: Codable, Sendable, Equatable {
    public var node_id: String
    public var region: String
    /// Where peers reach it; nil for a node without peers.
    public var address: String?
    /// The first node of its region: it holds the region's volumes' never-moved blocks.
    public var home: Bool
    /// Blocks that moved and whose lease record names this node (Hive's records).
    public var moved_blocks_held: Int
    /// Its keep-alive in Hive lapsed: it is dead or cut off (etcd engine only).
    public var lapsed: Bool

    public init(node_id: String, region: String, address: String?, home: Bool, moved_blocks_held: Int, lapsed: Bool = false) {
        self.node_id = node_id
        self.region = region
        self.address = address
        self.home = home
        self.moved_blocks_held = moved_blocks_held
        self.lapsed = lapsed
    }

    private enum CodingKeys: String, CodingKey { case node_id, region, address, home, moved_blocks_held, lapsed }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(node_id, forKey: .node_id)
        try c.encode(region, forKey: .region)
        try c.encode(address, forKey: .address)
        try c.encode(home, forKey: .home)
        try c.encode(moved_blocks_held, forKey: .moved_blocks_held)
        try c.encode(lapsed, forKey: .lapsed)
    }
}

/// `GET /v1/cluster`'s `in_flight`: the NBD commands the node has not answered, the inputs
/// queued for its core, and what the core waits on.
public struct InFlightInfo: Codable, Sendable, Equatable {
    public var nbd_commands: Int
    public var inputs_queued: Int
    public var forwards: Int
    public var hive_calls: Int
    public var hive_lookups: Int
    public var parked_for_hive: Int
    public var queued_behind_steals: Int
    public var pending_writes: Int
    public var pending_reads: Int
    public var pending_flushes: Int

    public init(nbdCommands: Int, inputsQueued: Int, core w: WorkInFlight) {
        nbd_commands = nbdCommands
        inputs_queued = inputsQueued
        forwards = w.forwards
        hive_calls = w.hiveCalls
        hive_lookups = w.lookups
        parked_for_hive = w.parkedForHive
        queued_behind_steals = w.queuedBehindSteals
        pending_writes = w.pendingWrites
        pending_reads = w.pendingReads
        pending_flushes = w.pendingFlushes
    }
}

/// What the peer transport counted since the node started.
public struct PeerCounters: Codable, Sendable, Equatable {
    public var sent: Int
    public var delivered: Int
    public var authenticated: Int
    public var unauthenticated: Int
    public var malformed: Int
    public var wrong_sender: Int
    public var dropped: Int

    public init(
        sent: Int, delivered: Int, authenticated: Int, unauthenticated: Int, malformed: Int, wrong_sender: Int, dropped: Int
    ) {
        self.sent = sent
        self.delivered = delivered
        self.authenticated = authenticated
        self.unauthenticated = unauthenticated
        self.malformed = malformed
        self.wrong_sender = wrong_sender
        self.dropped = dropped
    }
}

/// `GET /v1/moves`: a block that moved to this node, newest last.
public struct MoveInfo: Codable, Sendable, Equatable {
    public var volume: String
    public var block: UInt64
    public var epoch: UInt64
    /// The node that held it before.
    public var from: String
    /// From the claim to serving the block here.
    public var steal_ms: Double
    /// Why: the policy's decision record, with its numbers (`lis` renders it as a line).
    public var reason: MoveReason
    /// When it started serving here, milliseconds since the Unix epoch.
    public var at_ms: Int64

    public init(volume: String, block: UInt64, epoch: UInt64, from: String, steal_ms: Double, reason: MoveReason, at_ms: Int64) {
        self.volume = volume
        self.block = block
        self.epoch = epoch
        self.from = from
        self.steal_ms = steal_ms
        self.reason = reason
        self.at_ms = at_ms
    }
}

/// `GET` and `PUT /v1/faults`: the faults a test has switched on, per peer node (only on a
/// node with WAN emulation, `[wan]`). `PUT` replaces them all; `{"peers": {}}` heals.
public struct FaultSwitches: Codable, Sendable, Equatable {
    public struct Peer: Codable, Sendable, Equatable {
        /// The share of this node's frames to the peer that are dropped (0…1).
        public var send_loss: Double
        /// The share of the peer's frames to this node that are dropped (0…1).
        public var receive_loss: Double
        /// What the emulated one-way delay of this node's frames to the peer is multiplied by
        /// (1…1000; absent: 1). Set on both ends, the link's round trip is that many times longer.
        public var delay_factor: Double?
        public init(send_loss: Double = 0, receive_loss: Double = 0, delay_factor: Double? = nil) {
            self.send_loss = send_loss
            self.receive_loss = receive_loss
            self.delay_factor = delay_factor
        }
        /// A switch names only what it changes: absent shares are 0.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            send_loss = try c.decodeIfPresent(Double.self, forKey: .send_loss) ?? 0
            receive_loss = try c.decodeIfPresent(Double.self, forKey: .receive_loss) ?? 0
            delay_factor = try c.decodeIfPresent(Double.self, forKey: .delay_factor)
        }
    }
    public var peers: [String: Peer]
    public init(peers: [String: Peer]) { self.peers = peers }

    public static let expectedShape = #"{"peers": {"london-1": {"send_loss": 1, "receive_loss": 1, "delay_factor": 1}}}"#
}

/// `POST /v1/blocks/move`: an operator moves blocks `first`…`last` of a volume to a region
/// (`lis block move`); recorded in the move log as the operator's.
public struct MoveBlocksRequest: Codable, Sendable, Equatable {
    public var volume: String
    public var first: UInt64
    /// The last block of the range, inclusive; absent: `first` alone.
    public var last: UInt64?
    /// The region the blocks go to.
    public var to: String
    public init(volume: String, first: UInt64, last: UInt64? = nil, to: String) {
        self.volume = volume
        self.first = first
        self.last = last
        self.to = to
    }

    public static let expectedShape = #"{"volume": "vm", "first": 0, "last": 15 (optional), "to": "REGION"}"#
}

/// The answer to `POST /v1/blocks/move` (202): the node that steals the blocks. The moves happen
/// after the answer; `GET /v1/volumes/{name}/blocks` shows where the blocks are.
public struct MoveBlocksAccepted: Codable, Sendable, Equatable {
    public var volume: String
    public var first: UInt64
    public var last: UInt64
    public var to: String
    public var node: String
    public init(volume: String, first: UInt64, last: UInt64, to: String, node: String) {
        self.volume = volume
        self.first = first
        self.last = last
        self.to = to
        self.node = node
    }
}

/// `GET /v1/volumes/{name}/blocks`: where a volume's blocks are. A block that never moved has
/// no lease record and is held by its home region's home node.
public struct VolumeBlocks: Codable, Sendable, Equatable {
    public struct Lease: Codable, Sendable, Equatable {
        public var block: UInt64
        public var holder: String
        /// The holder's region (nil if the holder is no longer a member).
        public var region: String?
        public var epoch: UInt64
        /// `active` (serving) or `stealing` (claimed, not yet serving).
        public var state: String
        public init(block: UInt64, holder: String, region: String?, epoch: UInt64, state: String) {
            self.block = block
            self.holder = holder
            self.region = region
            self.epoch = epoch
            self.state = state
        }
    }
    public var volume: String
    public var home: String
    public var blocks: UInt64
    /// Every block with a lease record (it moved at least once), by block.
    public var moved: [Lease]
    public init(volume: String, home: String, blocks: UInt64, moved: [Lease]) {
        self.volume = volume
        self.home = home
        self.blocks = blocks
        self.moved = moved
    }
}

/// `GET /v1/policy` and the answer to `PUT /v1/policy`: the placement policy this node runs and
/// whether it is paused here now (a pause reaches every node within about a second).
public struct PolicyInfo: Codable, Sendable, Equatable {
    public var policy: String
    public var paused: Bool
    public init(policy: String, paused: Bool) {
        self.policy = policy
        self.paused = paused
    }
}

/// `PUT /v1/policy`: pause or resume the placement policy on every node (kept in Hive).
public struct SetPolicyRequest: Codable, Sendable, Equatable {
    public var paused: Bool

    public init(paused: Bool) { self.paused = paused }

    public static let expectedShape = #"{"paused": true}"#

    private enum CodingKeys: String, CodingKey, CaseIterable { case paused }

    public init(from decoder: any Decoder) throws {
        try UnknownField.check(decoder, known: CodingKeys.allCases.map(\.rawValue))
        paused = try decoder.container(keyedBy: CodingKeys.self).decode(Bool.self, forKey: .paused)
    }
}

/// `POST /v1/volumes/{name}/pin`: the regions whose nodes may hold the volume's blocks (they
/// must include its home), or `null` for every region. Hive's compare-and-set enforces it.
public struct PinVolumeRequest: Codable, Sendable, Equatable {
    public var allowed_regions: [String]?

    public init(allowed_regions: [String]?) { self.allowed_regions = allowed_regions }

    public static let expectedShape = #"{"allowed_regions": ["REGION", ...]} (null: every region)"#

    private enum CodingKeys: String, CodingKey, CaseIterable { case allowed_regions }

    public init(from decoder: any Decoder) throws {
        try UnknownField.check(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Required, though it may be null: an empty body must not unpin a volume.
        guard c.contains(.allowed_regions) else {
            throw DecodingError.keyNotFound(
                CodingKeys.allowed_regions, .init(codingPath: [], debugDescription: "allowed_regions is required (null: every region)"))
        }
        allowed_regions = try c.decodeIfPresent([String].self, forKey: .allowed_regions)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(allowed_regions, forKey: .allowed_regions)
    }
}

/// `GET /v1/nodes/{node}` and the answer to `POST /v1/nodes/{node}/drain|undrain`: whether an
/// operator drained the node and how many blocks it still holds.
public struct NodeDrainInfo: Codable, Sendable, Equatable {
    public var node: String
    public var region: String
    public var drained: Bool
    /// Blocks the node holds now: lease records naming it, and, for its region's home node,
    /// the region's volumes' blocks that never moved.
    public var held_blocks: Int
    /// Blocks a drain asked other nodes to take, by taker (empty for a status or an undrain).
    public var moving: [String: Int]
    public init(node: String, region: String, drained: Bool, held_blocks: Int, moving: [String: Int] = [:]) {
        self.node = node
        self.region = region
        self.drained = drained
        self.held_blocks = held_blocks
        self.moving = moving
    }
}
