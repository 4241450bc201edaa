/// How many failures a volume's acknowledged writes survive (DESIGN §3, write quorum Q2).
public enum Survival: String, Sendable, Equatable, CaseIterable {
    /// Q2 is a majority of the holder's region: writes commit at local speed.
    case node
    /// Q2 is a majority of the holder's region and of the nearest other allowed region.
    case region
}

/// A volume as the cluster knows it: a named, fixed-size byte array cut into blocks.
public struct VolumeSpec: Sendable, Equatable {
    public var name: VolumeName
    public var sizeBytes: UInt64
    public var blockSizeBytes: UInt64
    /// The region whose first node holds every never-moved block at epoch 0.
    public var home: RegionID
    public var survive: Survival
    /// Regions that may hold this volume's blocks; nil means every region. A hard rule.
    public var allowedRegions: [RegionID]?

    public init(
        name: VolumeName, sizeBytes: UInt64, blockSizeBytes: UInt64, home: RegionID,
        survive: Survival = .node, allowedRegions: [RegionID]? = nil
    ) {
        self.name = name
        self.sizeBytes = sizeBytes
        self.blockSizeBytes = blockSizeBytes
        self.home = home
        self.survive = survive
        self.allowedRegions = allowedRegions
    }

    public var blockCount: UInt64 { (sizeBytes + blockSizeBytes - 1) / blockSizeBytes }

    public func allows(_ region: RegionID) -> Bool { allowedRegions?.contains(region) ?? true }

    /// The smallest and largest block sizes Lis accepts (DESIGN §1).
    public static let minBlockSizeBytes: UInt64 = 64 * 1024
    public static let maxBlockSizeBytes: UInt64 = 64 * 1024 * 1024
}
