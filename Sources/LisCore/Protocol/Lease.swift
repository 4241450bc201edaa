/// A block's position in its write log: the number of writes ordered so far, across all
/// epochs. Each holder continues from the highest version it learned when it took over.
public typealias Version = UInt64

/// The last entry of a node's copy of a block: the version and the epoch that wrote it.
/// Two copies with the same position hold the same history (a holder writes each version once
/// per epoch), so a transfer can send only the suffix after the receiver's position.
public struct LogPosition: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public var epoch: Epoch
    public var version: Version
    public init(epoch: Epoch, version: Version) {
        self.epoch = epoch
        self.version = version
    }
    public static let empty = LogPosition(epoch: .zero, version: 0)
    public var description: String { "\(epoch)/v\(version)" }
    public static func < (a: LogPosition, b: LogPosition) -> Bool {
        a.epoch != b.epoch ? a.epoch < b.epoch : a.version < b.version
    }
}

/// Whether a lease record's holder serves the block yet (DESIGN §3).
public enum LeaseState: String, Sendable, Equatable, Codable {
    /// The holder won the Hive CAS and is fencing / transferring; nobody serves the block.
    case stealing
    /// The holder serves the block.
    case active
}

/// An epoch that served the block: who held it and where its write quorum (Q2) lives.
public struct ActiveTerm: Hashable, Sendable, Codable {
    public var epoch: Epoch
    public var holder: NodeID
    /// The regions in which a majority of nodes form Q2 (one region for `survive = node`).
    public var quorumRegions: [RegionID]
    public init(epoch: Epoch, holder: NodeID, quorumRegions: [RegionID]) {
        self.epoch = epoch
        self.holder = holder
        self.quorumRegions = quorumRegions
    }
}

/// Hive's record of a block's lease. Blocks never moved have no record: they are held by the
/// volume's home node at epoch 0 (`ClusterMap.homeRecord`).
public struct LeaseRecord: Hashable, Sendable, CustomStringConvertible, Codable {
    public var epoch: Epoch
    public var holder: NodeID
    public var quorumRegions: [RegionID]
    public var state: LeaseState
    /// The last epoch that was active. A steal fences this term's Q2, which holds every
    /// acknowledged write; a stalled steal's own epoch never acknowledged one.
    public var lastActive: ActiveTerm
    /// In a `stealing` record: the stealer's copy when it claimed. An acceptor of the last
    /// active term that sees the claim through Hive's watch promises at once and sends the
    /// stealer what it lacks, without waiting for the stealer's fence to cross the WAN.
    public var stealerPosition: LogPosition

    public init(
        epoch: Epoch, holder: NodeID, quorumRegions: [RegionID], state: LeaseState, lastActive: ActiveTerm,
        stealerPosition: LogPosition = .empty
    ) {
        self.epoch = epoch
        self.holder = holder
        self.quorumRegions = quorumRegions
        self.state = state
        self.lastActive = lastActive
        self.stealerPosition = stealerPosition
    }

    public var term: ActiveTerm { ActiveTerm(epoch: epoch, holder: holder, quorumRegions: quorumRegions) }
    public var description: String { "\(epoch) \(holder) \(state.rawValue)" }
}
