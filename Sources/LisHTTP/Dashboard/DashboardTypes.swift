import LisCore

/// One entry of the move log (`GET /v1/decisions`): a block moved, a steal started or stopped,
/// or a holder's policy looked at a move and declined it — with the typed record it was decided
/// on and a line for people.
public struct Decision: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case moved, declined, steal_started, abandoned
    }
    public var at_ms: Int64
    /// The node that decided (the stealer for a move, the holder for a decline).
    public var node: String
    public var region: String
    public var volume: String
    public var block: UInt64
    public var kind: Kind
    /// The node (and its region) the block came from: moves and started steals.
    public var from: String?
    public var from_region: String?
    /// The region the block went or would have gone to.
    public var to: String?
    public var epoch: UInt64?
    public var steal_ms: Double?
    /// `placement`, `recovery` or `operator` (moves and started steals).
    public var cause: String?
    public var text: String
    /// The typed record behind a move or a started steal.
    public var reason: MoveReason?
    /// Why a holder's policy declined the move (`declined`), with its numbers.
    public var declined: DeclineReason?
    /// Why a steal stopped (`abandoned`).
    public var ended: StealEnd?

    public init(
        at_ms: Int64, node: String, region: String, volume: String, block: UInt64, kind: Kind, from: String? = nil,
        from_region: String? = nil, to: String? = nil, epoch: UInt64? = nil, steal_ms: Double? = nil, cause: String? = nil,
        text: String, reason: MoveReason? = nil, declined: DeclineReason? = nil, ended: StealEnd? = nil
    ) {
        self.at_ms = at_ms
        self.node = node
        self.region = region
        self.volume = volume
        self.block = block
        self.kind = kind
        self.from = from
        self.from_region = from_region
        self.to = to
        self.epoch = epoch
        self.steal_ms = steal_ms
        self.cause = cause
        self.text = text
        self.reason = reason
        self.declined = declined
        self.ended = ended
    }

    /// The entry for a node's event; nil for events that are not decisions (holding, fenced).
    /// `regionOf` names a node's region.
    public init?(_ event: NodeEvent, node: NodeID, region: RegionID, atMs: Int64, regionOf: (NodeID) -> RegionID?) {
        let here = (node.name, region.name)
        switch event {
        case .moved(let key, let epoch, let from, let stealMs, let reason):
            self.init(
                at_ms: atMs, node: here.0, region: here.1, volume: key.volume.name, block: key.block.index, kind: .moved,
                from: from.name, from_region: regionOf(from)?.name, to: here.1, epoch: epoch.value, steal_ms: stealMs,
                cause: reason.cause, text: reason.text, reason: reason)
        case .stealStarted(let key, let from, let reason):
            self.init(
                at_ms: atMs, node: here.0, region: here.1, volume: key.volume.name, block: key.block.index,
                kind: .steal_started, from: from.name, from_region: regionOf(from)?.name, to: here.1, cause: reason.cause,
                text: reason.text, reason: reason)
        case .stealAbandoned(let key, let end):
            self.init(
                at_ms: atMs, node: here.0, region: here.1, volume: key.volume.name, block: key.block.index, kind: .abandoned,
                to: here.1, text: end.text, ended: end)
        case .declined(let key, let to, let reason):
            self.init(
                at_ms: atMs, node: here.0, region: here.1, volume: key.volume.name, block: key.block.index, kind: .declined,
                to: to.name, text: reason.text(to: to), declined: reason)
        case .holding, .fenced:
            return nil
        }
    }
}

/// What a node or a simulation tells the dashboard's routes about itself (`DashboardSource`).
public struct DashboardState: Sendable {
    public var kind: String
    public var title: String
    public var nowMs: Int64
    public var policy: String
    public var paused: Bool
    /// Regions in the cluster's order, with their nodes and measured round trips.
    public var regions: [Overview.Region]
    public var hive: Overview.Hive
    public var volumes: [VolumeInfo]
    /// The regions of the holders of blocks that moved, by volume and block (Hive's records);
    /// a block not listed is held in its volume's home region.
    public var holders: [String: [UInt64: String]]
    public var clock: ClockInfo?
    /// The window a view shows when the query names none.
    public var defaultWindowMs: Int64

    public init(
        kind: String, title: String, nowMs: Int64, policy: String, paused: Bool, regions: [Overview.Region], hive: Overview.Hive,
        volumes: [VolumeInfo], holders: [String: [UInt64: String]], clock: ClockInfo?, defaultWindowMs: Int64
    ) {
        self.kind = kind
        self.title = title
        self.nowMs = nowMs
        self.policy = policy
        self.paused = paused
        self.regions = regions
        self.hive = hive
        self.volumes = volumes
        self.holders = holders
        self.clock = clock
        self.defaultWindowMs = defaultWindowMs
    }
}

/// `GET /v1/overview`.
public struct Overview: Codable, Sendable, Equatable {
    public struct Region: Codable, Sendable, Equatable {
        public var name: String
        public var nodes: [String]
        /// This region's measured round trip to each other region; nil: not measured yet.
        public var rtt_ms: [String: Double?]
        public init(name: String, nodes: [String], rtt_ms: [String: Double?]) {
            self.name = name
            self.nodes = nodes
            self.rtt_ms = rtt_ms
        }
    }
    public struct Hive: Codable, Sendable, Equatable {
        public var engine: String
        public var ok: Bool
        public var rtt_ms: Double?
        public var error: String?
        public init(engine: String, ok: Bool, rtt_ms: Double?, error: String?) {
            self.engine = engine
            self.ok = ok
            self.rtt_ms = rtt_ms
            self.error = error
        }
    }
    public struct Volume: Codable, Sendable, Equatable {
        public var name: String
        public var home: String
        public var allowed_regions: [String]?
        public var blocks: UInt64
        public var block_size_bytes: UInt64
        public var survive: String
        public var held_by_region: [String: UInt64]
    }
    public var kind: String
    public var title: String
    public var now_ms: Int64
    public var policy: String
    public var paused: Bool
    public var regions: [Region]
    public var hive: Hive
    public var volumes: [Volume]
    public var clock: ClockInfo?
}

/// `GET /v1/heat`: blocks × time (docs/DASHBOARD.md).
public struct HeatMap: Codable, Sendable, Equatable {
    public struct Row: Codable, Sendable, Equatable {
        public var volume: String
        public var first: UInt64
        public var last: UInt64
        /// The region index of the holder of the first block now.
        public var holder: Int
        /// `[column, region index]`: the holder of the first block from that column on.
        public var segments: [[Int]]
        /// `[column, writes, reads, region index of the clients with most operations]`.
        public var cells: [[Int]]
        public var max_writes: Int
    }
    public struct Move: Codable, Sendable, Equatable {
        public var volume: String
        public var block: UInt64
        public var at_ms: Int64
        public var column: Int
        public var from: Int?
        public var to: Int
        public var cause: String?
        public var text: String
    }
    public var now_ms: Int64
    public var start_ms: Int64
    public var column_ms: Int64
    public var columns: Int
    public var regions: [String]
    public var rows: [Row]
    public var moves: [Move]
    /// Members whose activity could not be read: the map lacks their clients.
    public var missing: [String]
}

/// `GET /v1/latency`.
public struct LatencyReport: Codable, Sendable, Equatable {
    public struct Point: Codable, Sendable, Equatable {
        public var column: Int
        public var count: Int
        public var p50_ms: Double
        public var p90_ms: Double
        public var p99_ms: Double
    }
    public struct Series: Codable, Sendable, Equatable {
        public var region: String
        public var node: String
        public var op: String
        public var points: [Point]
    }
    public var start_ms: Int64
    public var column_ms: Int64
    public var series: [Series]
}

/// `GET /v1/usage`: one volume's use by region.
public struct VolumeUsage: Codable, Sendable, Equatable {
    public struct Hour: Codable, Sendable, Equatable {
        public var hour_ms: Int64
        public var ops: [String: Int]
        public var bytes: [String: UInt64]
    }
    public var volume: String
    /// Each region's share of the volume's operations in the window.
    public var share: [String: Double]
    public var hours: [Hour]
}

/// The simulator's virtual clock (`GET /v1/overview`'s `clock`, `PUT /v1/clock`).
public struct ClockInfo: Codable, Sendable, Equatable {
    /// Virtual milliseconds per wall millisecond.
    public var speed: Double
    public var paused: Bool
    /// When the run ends, virtual ms.
    public var end_ms: Int64
    public var finished: Bool
    public init(speed: Double, paused: Bool, end_ms: Int64, finished: Bool) {
        self.speed = speed
        self.paused = paused
        self.end_ms = end_ms
        self.finished = finished
    }
}

/// `PUT /v1/clock`: what to change; absent fields stay.
public struct SetClockRequest: Codable, Sendable, Equatable {
    public var speed: Double?
    public var paused: Bool?
    public init(speed: Double? = nil, paused: Bool? = nil) {
        self.speed = speed
        self.paused = paused
    }
    private enum CodingKeys: String, CodingKey, CaseIterable { case speed, paused }
    public init(from decoder: any Decoder) throws {
        try UnknownField.check(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        speed = try c.decodeIfPresent(Double.self, forKey: .speed)
        paused = try c.decodeIfPresent(Bool.self, forKey: .paused)
    }
    public static let expectedShape = #"{"speed": 600 (optional, 1…100000), "paused": false (optional)}"#
}
