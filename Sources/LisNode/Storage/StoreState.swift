import LisCore

/// What the log describes: the volumes and, per block, the promise, the position and the ids of
/// the newest writes other nodes sent it. Replay builds it record by record; the live store
/// keeps it current and checkpoints it.
struct StoreState: Equatable, Sendable {
    var nextVolumeID: UInt32 = 1
    var volumes: [UInt32: VolumeRecord] = [:]
    var idByName: [VolumeName: UInt32] = [:]
    var promises: [SlotKey: Epoch] = [:]
    var positions: [SlotKey: LogPosition] = [:]
    /// Per block, the newest writes in the copy that another node sent (forwarded, accepted,
    /// replicated or installed), oldest first, at most `WriteRef.keptPerBlock`: such a write
    /// may arrive again after this node restarted (its origin retries), and must be recognised
    /// rather than applied twice. A write of this node's own clients never arrives again: its
    /// client and its retries end with the process.
    var recent: [SlotKey: [WriteRef]] = [:]

    /// Applies one record, or says why it cannot apply (the log contradicts itself).
    mutating func apply(_ record: WALRecord) -> String? {
        switch record {
        case .batch, .closed:
            return nil
        case .volumeCreated(let v):
            if volumes[v.id] != nil { return "volume id \(v.id) created twice" }
            if idByName[v.name] != nil { return "volume \(v.name) created twice" }
            if v.id < nextVolumeID { return "volume id \(v.id) reused (next is \(nextVolumeID))" }
            volumes[v.id] = v
            idByName[v.name] = v.id
            nextVolumeID = v.id + 1
        case .volumeResized(let id, let sizeBytes):
            guard let v = volumes[id] else { return "resize of unknown volume id \(id)" }
            if sizeBytes < v.sizeBytes { return "volume \(v.name) shrinks from \(v.sizeBytes) to \(sizeBytes) bytes" }
            volumes[id]!.sizeBytes = sizeBytes
        case .volumeDeleted(let id):
            guard let v = volumes.removeValue(forKey: id) else { return "delete of unknown volume id \(id)" }
            idByName[v.name] = nil
            promises = promises.filter { $0.key.volumeID != id }
            positions = positions.filter { $0.key.volumeID != id }
            recent = recent.filter { $0.key.volumeID != id }
        case .promise(let slot, let epoch):
            if let problem = check(slot) { return problem }
            promises[slot] = epoch
        case .write(let slot, let position, let offset, let length, _):
            if let problem = check(slot) { return problem }
            let v = volumes[slot.volumeID]!
            if UInt64(offset) + UInt64(length) > v.blockBytes(slot.block) {
                return "write of \(length) bytes at \(offset) does not fit block \(slot.block) of \(v.name)"
            }
            positions[slot] = position
        case .install(let slot, let position):
            if let problem = check(slot) { return problem }
            positions[slot] = position
        case .recentWrites(let slot, let replace, let refs):
            if let problem = check(slot) { return problem }
            setRecent(slot, (replace ? [] : recent[slot] ?? []) + refs)
        case .checkpoint(let state):
            self = state
        }
        return nil
    }

    /// Keeps the newest `WriteRef.keptPerBlock` of `refs` as the block's recent writes.
    mutating func setRecent(_ slot: SlotKey, _ refs: [WriteRef]) {
        recent[slot] = refs.isEmpty ? nil : Array(refs.suffix(WriteRef.keptPerBlock))
    }

    private func check(_ slot: SlotKey) -> String? {
        guard let v = volumes[slot.volumeID] else { return "record for unknown volume id \(slot.volumeID)" }
        if slot.block >= v.blockCount { return "block \(slot.block) is beyond volume \(v.name)" }
        return nil
    }

    /// A checkpoint payload. Entries are sorted so that equal states encode to equal bytes.
    func encode(into out: inout [UInt8]) {
        out.walAppend(nextVolumeID)
        out.walAppend(UInt32(volumes.count))
        for id in volumes.keys.sorted() { volumes[id]!.encode(into: &out) }
        out.walAppend(UInt64(promises.count))
        for (slot, epoch) in promises.sorted(by: { $0.key < $1.key }) {
            out.walAppend(slot.volumeID)
            out.walAppend(slot.block)
            out.walAppend(epoch.value)
        }
        out.walAppend(UInt64(positions.count))
        for (slot, position) in positions.sorted(by: { $0.key < $1.key }) {
            out.walAppend(slot.volumeID)
            out.walAppend(slot.block)
            out.walAppend(position.epoch.value)
            out.walAppend(position.version)
        }
        out.walAppend(UInt64(recent.count))
        for (slot, refs) in recent.sorted(by: { $0.key < $1.key }) {
            out.walAppend(slot.volumeID)
            out.walAppend(slot.block)
            out.walAppend(UInt32(refs.count))
            for ref in refs { ref.encode(into: &out) }
        }
    }

    static func decode(_ r: inout WALPayloadReader) -> StoreState? {
        var s = StoreState()
        guard let next = r.u32(), let volumeCount = r.u32() else { return nil }
        s.nextVolumeID = next
        for _ in 0..<volumeCount {
            guard let v = VolumeRecord.decode(&r), v.id < next, s.volumes[v.id] == nil, s.idByName[v.name] == nil
            else { return nil }
            s.volumes[v.id] = v
            s.idByName[v.name] = v.id
        }
        // Each entry takes 20 (promise) or 28 (position) bytes: a count the payload cannot hold is damage.
        guard let promiseCount = r.u64(), promiseCount <= UInt64(r.raw.count / 20) else { return nil }
        s.promises.reserveCapacity(Int(promiseCount))
        for _ in 0..<promiseCount {
            guard let id = r.u32(), let block = r.u64(), let epoch = r.u64() else { return nil }
            let slot = SlotKey(volumeID: id, block: block)
            guard s.check(slot) == nil else { return nil }
            s.promises[slot] = Epoch(epoch)
        }
        guard let positionCount = r.u64(), positionCount <= UInt64(r.raw.count / 28) else { return nil }
        s.positions.reserveCapacity(Int(positionCount))
        for _ in 0..<positionCount {
            guard let id = r.u32(), let block = r.u64(), let epoch = r.u64(), let version = r.u64() else { return nil }
            let slot = SlotKey(volumeID: id, block: block)
            guard s.check(slot) == nil else { return nil }
            s.positions[slot] = LogPosition(epoch: Epoch(epoch), version: version)
        }
        // Checkpoints written before writes' ids were stored end here.
        if r.isAtEnd { return s }
        guard let recentCount = r.u64(), recentCount <= UInt64(r.raw.count / 16) else { return nil }
        for _ in 0..<recentCount {
            guard let id = r.u32(), let block = r.u64(), let count = r.u32(), count > 0,
                count <= UInt32(WriteRef.keptPerBlock)
            else { return nil }
            let slot = SlotKey(volumeID: id, block: block)
            guard s.check(slot) == nil, s.recent[slot] == nil else { return nil }
            var refs: [WriteRef] = []
            for _ in 0..<count {
                guard let ref = WriteRef.decode(&r) else { return nil }
                refs.append(ref)
            }
            s.recent[slot] = refs
        }
        return s
    }
}

extension VolumeRecord {
    var blockCount: UInt64 { (sizeBytes + blockSizeBytes - 1) / blockSizeBytes }

    /// The length of `block`: the block size, except for a short last block.
    func blockBytes(_ block: UInt64) -> UInt64 {
        let start = block &* blockSizeBytes
        guard block < blockCount else { return 0 }
        return min(blockSizeBytes, sizeBytes - start)
    }
}
