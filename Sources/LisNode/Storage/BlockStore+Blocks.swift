#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LisCore

extension BlockStore {
    // MARK: Blocks

    /// The block's position: the last write or install stored (`.empty` if none).
    public func position(_ key: BlockKey) -> LogPosition {
        guard let file = files[key.volume] else { return .empty }
        return state.positions[SlotKey(volumeID: file.id, block: key.block.index)] ?? .empty
    }

    /// The highest epoch promised for the block (`.zero` if none).
    public func promised(_ key: BlockKey) -> Epoch {
        guard let file = files[key.volume] else { return .zero }
        return state.promises[SlotKey(volumeID: file.id, block: key.block.index)] ?? .zero
    }

    /// Applies a `persistWrite` effect. `.read` and `.transfer` payloads must have been
    /// resolved by the shell before. `id`: the write's id if another node's client sent it
    /// (`StoreState.recent`), else nil.
    public func apply(
        write: BlockWrite, at position: LogPosition, to key: BlockKey, durable: Bool, id: RequestID? = nil
    ) throws(StorageError) {
        switch write.data {
        case .bytes(let bytes):
            guard bytes.count == Int(write.length) else {
                throw StorageError(
                    .invalidArgument, "write to \(key) says \(write.length) bytes but carries \(bytes.count)")
            }
            let written = bytes.withUnsafeBytes { raw in
                Swift.Result { () throws(StorageError) in
                    try self.write(key, offsetInBlock: write.offset, bytes: raw, at: position, durable: durable, id: id)
                }
            }
            try written.get()
        case .zeros:
            try writeZeroes(key, offsetInBlock: write.offset, length: write.length, at: position, durable: durable, id: id)
        case .external, .read, .transfer, .held:
            throw StorageError(.unresolvedPayload, "write to \(key) carries an unresolved payload (\(write.data))")
        }
    }

    /// Stores `bytes` at `offsetInBlock` of the block and records `position`. `durable` (FUA):
    /// synced before it returns (with everything stored before it). `bytes` may be any
    /// contiguous memory, such as a NIO `ByteBuffer`'s readable bytes: nothing is copied.
    /// `id`: the write's id if another node's client sent it (`StoreState.recent`).
    public func write(
        _ key: BlockKey, offsetInBlock: UInt32, bytes: UnsafeRawBufferPointer, at position: LogPosition, durable: Bool,
        id: RequestID? = nil
    ) throws(StorageError) {
        try checkUsable()
        guard bytes.count <= Int(UInt32.max) else {
            throw StorageError(
                .invalidArgument, "write to \(key) of \(bytes.count) bytes is larger than a block can be")
        }
        let length = UInt32(bytes.count)
        let (file, at) = try locate(key, offsetInBlock: offsetInBlock, length: length)
        if length > 0 {
            let r = StorageIO.pwriteAll(file.fd, bytes, at: at)
            if r != 0 { throw fail(.os("cannot write \(length) bytes at \(at) to", path: file.path, code: r)) }
            markDirty(file)
        }
        try logWrite(file, key, position, offsetInBlock: offsetInBlock, length: length, zero: false, durable: durable, id: id)
    }

    /// Stores `length` zero bytes (NBD WRITE_ZEROES / TRIM): whole 4 KiB pages become holes.
    public func writeZeroes(
        _ key: BlockKey, offsetInBlock: UInt32, length: UInt32, at position: LogPosition, durable: Bool,
        id: RequestID? = nil
    ) throws(StorageError) {
        try checkUsable()
        let (file, at) = try locate(key, offsetInBlock: offsetInBlock, length: length)
        if length > 0 {
            let r = zeroRange(file.fd, at: at, length: UInt64(length))
            if r != 0 { throw fail(.os("cannot write \(length) zero bytes at \(at) to", path: file.path, code: r)) }
            markDirty(file)
        }
        try logWrite(file, key, position, offsetInBlock: offsetInBlock, length: length, zero: true, durable: durable, id: id)
    }

    /// Records a promise; durable when it returns (`persistPromise`).
    public func promise(_ key: BlockKey, _ epoch: Epoch) throws(StorageError) {
        try checkUsable()
        let (file, _) = try locate(key, offsetInBlock: 0, length: 0)
        let slot = SlotKey(volumeID: file.id, block: key.block.index)
        state.promises[slot] = epoch
        wal.append(.promise(slot, epoch))
        try sync()
    }

    /// Applies an `installTransfer` effect: replaces the whole block with `image` (exactly the
    /// block's length; nil: keep the bytes) and sets its position; durable when it returns.
    /// `recent`: the block's recent writes from now on (`StoreState.recent`; nil: unchanged).
    public func install(
        _ key: BlockKey, image: [UInt8]?, upTo position: LogPosition, recent: [WriteRef]? = nil
    ) throws(StorageError) {
        guard let image else { return try install(key, imageBytes: nil, upTo: position, recent: recent) }
        let installed = image.withUnsafeBytes { raw in
            Swift.Result { () throws(StorageError) in try self.install(key, imageBytes: raw, upTo: position, recent: recent) }
        }
        try installed.get()
    }

    /// `install(_:image:upTo:recent:)` from any contiguous bytes (a NIO `ByteBuffer`'s view).
    public func install(
        _ key: BlockKey, imageBytes image: UnsafeRawBufferPointer?, upTo position: LogPosition, recent: [WriteRef]? = nil
    ) throws(StorageError) {
        try checkUsable()
        let (file, at) = try locate(key, offsetInBlock: 0, length: 0)
        if let image {
            let blockBytes = file.blockBytes(key.block.index)
            guard UInt64(image.count) == blockBytes else {
                throw StorageError(
                    .invalidArgument, "image for \(key) has \(image.count) bytes, the block has \(blockBytes)")
            }
            let r = StorageIO.pwriteAll(file.fd, image, at: at)
            if r != 0 { throw fail(.os("cannot write the image of \(key) to", path: file.path, code: r)) }
            markDirty(file)
        }
        let slot = SlotKey(volumeID: file.id, block: key.block.index)
        state.positions[slot] = position
        wal.append(.install(slot, position))
        if let recent {
            state.setRecent(slot, recent)
            unloggedRecent[slot] = Int.max
        }
        try sync()
    }

    /// The whole block as stored (for a transfer): block size bytes, fewer for a short last block.
    public func exportImage(_ key: BlockKey) throws(StorageError) -> [UInt8] {
        try checkUsable()
        let (file, _) = try locate(key, offsetInBlock: 0, length: 0)
        let length = UInt32(file.blockBytes(key.block.index))
        var failure: StorageError? = nil
        let image = [UInt8](unsafeUninitializedCapacity: Int(length)) { buffer, count in
            do throws(StorageError) {
                try read(key, offsetInBlock: 0, length: length, into: UnsafeMutableRawBufferPointer(buffer))
                count = Int(length)
            } catch {
                failure = error
                count = 0
            }
        }
        if let failure { throw failure }
        return image
    }

    /// Reads `length` bytes at `offsetInBlock` into the start of `buffer` (which must be at
    /// least that long), e.g. straight into a NIO `ByteBuffer`'s storage.
    public func read(
        _ key: BlockKey, offsetInBlock: UInt32, length: UInt32, into buffer: UnsafeMutableRawBufferPointer
    ) throws(StorageError) {
        try checkUsable()
        guard buffer.count >= Int(length) else {
            throw StorageError(.invalidArgument, "read of \(length) bytes from \(key) into a buffer of \(buffer.count)")
        }
        let (file, at) = try locate(key, offsetInBlock: offsetInBlock, length: length)
        let target = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(length)])
        let (n, e) = StorageIO.preadAll(file.fd, target, at: at)
        if e != 0 { throw .os("cannot read \(length) bytes at \(at) from", path: file.path, code: e) }
        if n < Int(length) {
            throw StorageError(
                .inconsistentLayout, "volume file ends early: read \(n) of \(length) bytes at \(at)", path: file.path)
        }
    }

    /// Reads `length` bytes at `offsetInBlock` of the block.
    public func read(_ key: BlockKey, offsetInBlock: UInt32, length: UInt32) throws(StorageError) -> [UInt8] {
        var failure: StorageError? = nil
        let bytes = [UInt8](unsafeUninitializedCapacity: Int(length)) { buffer, count in
            do throws(StorageError) {
                try read(key, offsetInBlock: offsetInBlock, length: length, into: UnsafeMutableRawBufferPointer(buffer))
                count = Int(length)
            } catch {
                failure = error
                count = 0
            }
        }
        if let failure { throw failure }
        return bytes
    }
}
