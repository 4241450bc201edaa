import LisCore

/// A volume's geometry.
public struct VolumeGeometry: Hashable, Sendable {
    public var sizeBytes: UInt64
    public var blockSizeBytes: UInt64
    public init(sizeBytes: UInt64, blockSizeBytes: UInt64) {
        self.sizeBytes = sizeBytes
        self.blockSizeBytes = blockSizeBytes
    }
    public var blockCount: UInt64 { (sizeBytes + blockSizeBytes - 1) / blockSizeBytes }
    /// The length of a block: the block size, less for a short last block, 0 past the end.
    public func blockBytes(_ block: BlockID) -> UInt64 {
        guard block.index < blockCount else { return 0 }
        return min(blockSizeBytes, sizeBytes - block.index * blockSizeBytes)
    }
}
