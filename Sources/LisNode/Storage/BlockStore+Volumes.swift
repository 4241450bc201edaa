#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LisCore

extension BlockStore {
    // MARK: Volumes

    /// The volumes stored, with their geometry.
    public var volumes: [VolumeName: VolumeGeometry] {
        files.mapValues { VolumeGeometry(sizeBytes: $0.sizeBytes, blockSizeBytes: $0.blockSizeBytes) }
    }

    public func volume(_ name: VolumeName) -> VolumeGeometry? {
        files[name].map { VolumeGeometry(sizeBytes: $0.sizeBytes, blockSizeBytes: $0.blockSizeBytes) }
    }

    /// Creates an empty (all-zero, sparse) volume; durable when it returns.
    /// `blockSizeBytes` need not divide `sizeBytes`: the last block is then shorter.
    public func createVolume(_ name: VolumeName, sizeBytes: UInt64, blockSizeBytes: UInt64) throws(StorageError) {
        try checkUsable()
        if let problem = VolumeName.problem(with: name.name) {
            throw StorageError(.invalidVolumeName, "\(problem), got \"\(name.name)\"")
        }
        guard sizeBytes > 0, sizeBytes <= UInt64(Int64.max), blockSizeBytes > 0, blockSizeBytes <= UInt64(UInt32.max)
        else {
            throw StorageError(
                .invalidArgument,
                "volume \(name): size must be 1 … 2^63-1 bytes and block size 1 … 2^32-1 bytes, "
                    + "got \(sizeBytes) and \(blockSizeBytes)")
        }
        if files[name] != nil { throw StorageError(.volumeExists, "volume \(name) exists already") }
        let path = volumesDirectory + "/" + name.name + ".img"
        // The file first, durable, then the record: a crash in between leaves an orphan file
        // that the next open removes, never a record without its file.
        let fd = try StorageIO.openFile(path, O_RDWR | O_CREAT | O_TRUNC)
        do throws(StorageError) {
            try StorageIO.truncate(fd, to: sizeBytes, path: path)
            let r = StorageIO.syncAll(fd)
            if r != 0 { throw .os("cannot sync", path: path, code: r) }
            try StorageIO.syncDirectory(volumesDirectory)
        } catch {
            StorageIO.closeFile(fd)
            unlink(path)
            throw error
        }
        let record = VolumeRecord(
            id: state.nextVolumeID, name: name, sizeBytes: sizeBytes, blockSizeBytes: blockSizeBytes)
        let problem = state.apply(.volumeCreated(record))
        precondition(problem == nil, "creating volume \(name): \(problem ?? "")")
        files[name] = VolumeFile(record, path: path, fd: fd)
        wal.append(.volumeCreated(record))
        try sync()
    }

    /// Grows a volume (new bytes read as zero); durable when it returns. Shrinking is refused:
    /// blocks past the new end may be held or promised elsewhere.
    public func resizeVolume(_ name: VolumeName, sizeBytes: UInt64) throws(StorageError) {
        try checkUsable()
        let file = try volumeFile(name)
        if sizeBytes == file.sizeBytes { return }
        guard sizeBytes > file.sizeBytes, sizeBytes <= UInt64(Int64.max) else {
            throw StorageError(
                .invalidArgument, "volume \(name) can only grow: it has \(file.sizeBytes) bytes, asked \(sizeBytes)")
        }
        // The size first, durable, then the record (a crash in between: open cuts it back).
        try StorageIO.truncate(file.fd, to: sizeBytes, path: file.path)
        let r = StorageIO.syncAll(file.fd)
        if r != 0 { throw fail(.os("cannot sync", path: file.path, code: r)) }
        file.sizeBytes = sizeBytes
        let problem = state.apply(.volumeResized(id: file.id, sizeBytes: sizeBytes))
        precondition(problem == nil, "resizing volume \(name): \(problem ?? "")")
        wal.append(.volumeResized(id: file.id, sizeBytes: sizeBytes))
        try sync()
    }

    /// Deletes a volume, its data, promises and positions; durable when it returns.
    public func deleteVolume(_ name: VolumeName) throws(StorageError) {
        try checkUsable()
        let file = try volumeFile(name)
        files[name] = nil
        if file.dirty { dirtyFiles.removeAll { $0 === file } }
        unloggedPositions = unloggedPositions.filter { $0.key.volumeID != file.id }
        let problem = state.apply(.volumeDeleted(id: file.id))
        precondition(problem == nil, "deleting volume \(name): \(problem ?? "")")
        wal.append(.volumeDeleted(id: file.id))
        // The record first, durable, then the file (a crash in between: open removes the orphan).
        try sync()
        StorageIO.closeFile(file.fd)
        file.fd = -1
        // The deletion is committed: if the file cannot be removed now, the next open removes
        // it as an orphan (and reports it), so failing here would only mislead the caller.
        _ = unlink(file.path)
        try? StorageIO.syncDirectory(volumesDirectory)
    }
}
