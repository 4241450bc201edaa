#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LisCore

extension BlockStore {
    /// Opens the file of every volume the log knows, checks it against the log, and removes
    /// `.img` files no volume owns. `opened` collects what is open, so a failure can close it.
    static func openVolumeFiles(
        _ state: StoreState, in directory: String, opened: inout [VolumeFile]
    ) throws(StorageError) -> (files: [VolumeName: VolumeFile], orphans: [String]) {
        var files: [VolumeName: VolumeFile] = [:]
        for id in state.volumes.keys.sorted() {
            let volume = state.volumes[id]!
            let path = directory + "/" + volume.name.name + ".img"
            let fd: Int32
            do throws(StorageError) {
                fd = try StorageIO.openFile(path, O_RDWR)
            } catch where error.errno == ENOENT {
                throw StorageError(
                    .inconsistentLayout, "the log has volume \(volume.name) but its file is missing", path: path)
            }
            let file = VolumeFile(volume, path: path, fd: fd)
            opened.append(file)
            let size = try StorageIO.size(fd, path: path)
            if size < volume.sizeBytes {
                throw StorageError(
                    .inconsistentLayout, "volume file has \(size) bytes, the log says \(volume.sizeBytes)", path: path)
            }
            if size > volume.sizeBytes {
                // A resize that grew the file but crashed before its record: undo it.
                try StorageIO.truncate(fd, to: volume.sizeBytes, path: path)
                let r = StorageIO.syncAll(fd)
                if r != 0 { throw .os("cannot sync", path: path, code: r) }
            }
            files[volume.name] = file
        }
        var orphans: [String] = []
        for name in try StorageIO.list(directory) where name.hasSuffix(".img") {
            let volume = VolumeName(String(name.dropLast(4)))
            if files[volume] != nil { continue }
            let path = directory + "/" + name
            if unlink(path) != 0 { throw .os("cannot remove orphan volume file", path: path) }
            orphans.append(name)
        }
        if !orphans.isEmpty { try StorageIO.syncDirectory(directory) }
        return (files, orphans)
    }

    static func recovered(_ outcome: WALReader.Outcome, orphans: [String]) -> Recovered {
        let state = outcome.state
        var r = Recovered()
        for v in state.volumes.values {
            r.volumes[v.name] = VolumeGeometry(sizeBytes: v.sizeBytes, blockSizeBytes: v.blockSizeBytes)
        }
        func key(_ slot: SlotKey) -> BlockKey { BlockKey(state.volumes[slot.volumeID]!.name, BlockID(slot.block)) }
        for (slot, epoch) in state.promises { r.promises[key(slot)] = epoch }
        for (slot, position) in state.positions { r.positions[key(slot)] = position }
        for (slot, refs) in state.recent { r.recent[key(slot)] = refs }
        r.droppedTailBytes = outcome.droppedTailBytes
        r.records = outcome.records
        r.segments = outcome.segments.count
        r.cleanShutdown = outcome.cleanShutdown && outcome.droppedTailBytes == 0
        r.removedOrphanFiles = orphans
        return r
    }
}
