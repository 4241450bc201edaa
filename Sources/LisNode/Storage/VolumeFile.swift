import LisCore

/// An open volume file.
final class VolumeFile {
    let id: UInt32
    let name: VolumeName
    let path: String
    var fd: Int32
    var sizeBytes: UInt64
    let blockSizeBytes: UInt64
    /// Written since the last sync, and listed in `BlockStore.dirtyFiles`.
    var dirty = false

    init(_ record: VolumeRecord, path: String, fd: Int32) {
        id = record.id
        name = record.name
        self.path = path
        self.fd = fd
        sizeBytes = record.sizeBytes
        blockSizeBytes = record.blockSizeBytes
    }

    var blockCount: UInt64 { (sizeBytes + blockSizeBytes - 1) / blockSizeBytes }
    func blockBytes(_ block: UInt64) -> UInt64 {
        guard block < blockCount else { return 0 }
        return min(blockSizeBytes, sizeBytes - block * blockSizeBytes)
    }
}
