import LisCore

/// A block of a volume as the log names it: the volume's local id instead of its name, so a
/// write record has a fixed size and costs no string hashing or copying.
struct SlotKey: Hashable, Comparable, Sendable {
    var volumeID: UInt32
    var block: UInt64
    func _rawHashValue(seed: Int) -> Int { tableHash(pairBits(UInt64(volumeID), block), seed: seed) }
    static func < (a: SlotKey, b: SlotKey) -> Bool {
        a.volumeID != b.volumeID ? a.volumeID < b.volumeID : a.block < b.block
    }
}

/// One record of the write-ahead log.
///
/// Frame, little-endian: `[u32 payload length][u32 crc32c of type+payload][u8 type][payload]`.
/// Every `write` system call to the log starts with a `batch` record that states its sequence
/// number and the batch's length, which is what lets recovery tell a torn tail (the last batch,
/// cut short) from damage to bytes that were already durable (see `WALReader`).
enum WALRecord: Equatable, Sendable {
    /// Starts every write to the log. `bytes` counts the whole batch, this record included.
    case batch(seq: UInt64, bytes: UInt32)
    case volumeCreated(VolumeRecord)
    case volumeResized(id: UInt32, sizeBytes: UInt64)
    case volumeDeleted(id: UInt32)
    case promise(SlotKey, Epoch)
    /// A write was stored at `position`; `zero`: it wrote zeroes. The data lives in the volume
    /// file; the record exists for the block's position.
    case write(SlotKey, LogPosition, offset: UInt32, length: UInt32, zero: Bool)
    /// A whole-block image was installed; the block is now at `position`.
    case install(SlotKey, LogPosition)
    /// Ids of writes other nodes sent to the block, with their positions (`StoreState.recent`):
    /// `replace` — these are all of them; else they follow the ones logged before.
    case recentWrites(SlotKey, replace: Bool, [WriteRef])
    /// Everything the log knew: replaces the state built so far. First record of a segment.
    case checkpoint(StoreState)
    /// `close()` ran: everything before was synced. Absent after a crash.
    case closed

    enum Tag: UInt8 {
        case batch = 1, volumeCreated, volumeResized, volumeDeleted, promise, write, install, checkpoint, closed, recentWrites
    }

    static let headerBytes = 9
    /// The batch record's payload is fixed: u64 seq + u32 bytes.
    static let batchPayloadBytes = 12
    static let batchRecordBytes = headerBytes + batchPayloadBytes
    /// Refuse to believe a length above this (a damaged length field must not make recovery
    /// allocate or skip gigabytes). Checkpoints are the only big records.
    static let payloadBytesMax = 1 << 30

    var tag: Tag {
        switch self {
        case .batch: .batch
        case .volumeCreated: .volumeCreated
        case .volumeResized: .volumeResized
        case .volumeDeleted: .volumeDeleted
        case .promise: .promise
        case .write: .write
        case .install: .install
        case .recentWrites: .recentWrites
        case .checkpoint: .checkpoint
        case .closed: .closed
        }
    }

    /// Appends the framed record to `out`.
    func encode(into out: inout [UInt8]) {
        let start = out.count
        out.walAppend(UInt64(0))  // length and checksum, sealed below
        out.append(tag.rawValue)
        switch self {
        case .batch(let seq, let bytes):
            out.walAppend(seq)
            out.walAppend(bytes)
        case .volumeCreated(let v):
            v.encode(into: &out)
        case .volumeResized(let id, let sizeBytes):
            out.walAppend(id)
            out.walAppend(sizeBytes)
        case .volumeDeleted(let id):
            out.walAppend(id)
        case .promise(let slot, let epoch):
            out.walAppend(slot.volumeID)
            out.walAppend(slot.block)
            out.walAppend(epoch.value)
        case .write(let slot, let position, let offset, let length, let zero):
            out.walAppend(slot.volumeID)
            out.walAppend(slot.block)
            out.walAppend(position.epoch.value)
            out.walAppend(position.version)
            out.walAppend(offset)
            out.walAppend(length)
            out.append(zero ? 1 : 0)
        case .install(let slot, let position):
            out.walAppend(slot.volumeID)
            out.walAppend(slot.block)
            out.walAppend(position.epoch.value)
            out.walAppend(position.version)
        case .recentWrites(let slot, let replace, let refs):
            out.walAppend(slot.volumeID)
            out.walAppend(slot.block)
            out.append(replace ? 1 : 0)
            out.walAppend(UInt32(refs.count))
            for ref in refs { ref.encode(into: &out) }
        case .checkpoint(let state):
            state.encode(into: &out)
        case .closed:
            break
        }
        WALRecord.seal(&out, recordAt: start)
    }

    /// Fills in the length and checksum of the record that starts at `start` and runs to the
    /// end of `out`, or has `payloadBytes` bytes of payload if given.
    static func seal(_ out: inout [UInt8], recordAt start: Int, payloadBytes: Int? = nil) {
        let payloadBytes = payloadBytes ?? (out.count - start - headerBytes)
        precondition(payloadBytes <= payloadBytesMax, "WAL record of \(payloadBytes) bytes exceeds the limit")
        let end = start + headerBytes + payloadBytes
        let crc = out.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(start + 8)..<end]))
        }
        out.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(payloadBytes).littleEndian, toByteOffset: start, as: UInt32.self)
            raw.storeBytes(of: crc.littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
    }

    /// Decodes a payload whose frame and checksum were verified. Nil: it does not parse (an
    /// unknown type, a wrong length, a name that is not a volume name) — damage the checksum
    /// missed, or a writer bug; either way recovery must not use it.
    static func decode(tag rawTag: UInt8, payload: UnsafeRawBufferPointer) -> WALRecord? {
        guard let tag = Tag(rawValue: rawTag) else { return nil }
        var r = WALPayloadReader(payload)
        let record: WALRecord?
        switch tag {
        case .batch:
            guard let seq = r.u64(), let bytes = r.u32() else { return nil }
            record = .batch(seq: seq, bytes: bytes)
        case .volumeCreated:
            record = VolumeRecord.decode(&r).map { .volumeCreated($0) }
        case .volumeResized:
            guard let id = r.u32(), let size = r.u64() else { return nil }
            record = .volumeResized(id: id, sizeBytes: size)
        case .volumeDeleted:
            record = r.u32().map { .volumeDeleted(id: $0) }
        case .promise:
            guard let id = r.u32(), let block = r.u64(), let epoch = r.u64() else { return nil }
            record = .promise(SlotKey(volumeID: id, block: block), Epoch(epoch))
        case .write:
            guard let id = r.u32(), let block = r.u64(), let epoch = r.u64(), let version = r.u64(),
                let offset = r.u32(), let length = r.u32(), let zero = r.u8(), zero <= 1
            else { return nil }
            record = .write(
                SlotKey(volumeID: id, block: block), LogPosition(epoch: Epoch(epoch), version: version),
                offset: offset, length: length, zero: zero == 1)
        case .install:
            guard let id = r.u32(), let block = r.u64(), let epoch = r.u64(), let version = r.u64() else { return nil }
            record = .install(SlotKey(volumeID: id, block: block), LogPosition(epoch: Epoch(epoch), version: version))
        case .recentWrites:
            guard let id = r.u32(), let block = r.u64(), let replace = r.u8(), replace <= 1, let count = r.u32(),
                count <= UInt32(r.raw.count / WriteRef.walBytesMin)
            else { return nil }
            var refs: [WriteRef] = []
            refs.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let ref = WriteRef.decode(&r) else { return nil }
                refs.append(ref)
            }
            record = .recentWrites(SlotKey(volumeID: id, block: block), replace: replace == 1, refs)
        case .checkpoint:
            record = StoreState.decode(&r).map { .checkpoint($0) }
        case .closed:
            record = .closed
        }
        // Trailing bytes mean the writer and reader disagree about the format: refuse.
        return r.isAtEnd ? record : nil
    }
}

/// A volume as the log records it.
struct VolumeRecord: Equatable, Sendable {
    var id: UInt32
    var name: VolumeName
    var sizeBytes: UInt64
    var blockSizeBytes: UInt64

    func encode(into out: inout [UInt8]) {
        out.walAppend(id)
        out.walAppend(sizeBytes)
        out.walAppend(blockSizeBytes)
        let name = Array(name.name.utf8)
        precondition(name.count <= 255, "volume names are at most 128 bytes")
        out.append(UInt8(name.count))
        out.append(contentsOf: name)
    }

    static func decode(_ r: inout WALPayloadReader) -> VolumeRecord? {
        guard let id = r.u32(), let size = r.u64(), let blockSize = r.u64(), let count = r.u8(),
            let nameBytes = r.bytes(Int(count))
        else { return nil }
        // Only what keeps the name a plain file name: the naming rules may change, old logs must
        // still open (new names are checked against `VolumeName.problem(with:)` on creation).
        guard count > 0, !nameBytes.contains(0x2F), !nameBytes.contains(0), nameBytes.first != 0x2E,
            let name = String(validating: nameBytes, as: UTF8.self), blockSize > 0
        else { return nil }
        return VolumeRecord(id: id, name: VolumeName(name), sizeBytes: size, blockSizeBytes: blockSize)
    }
}

extension WriteRef {
    /// The fewest bytes one takes in the log (an origin name of one byte).
    static let walBytesMin = 26

    /// `[u64 epoch][u64 version][u64 seq][u8 n][n bytes: origin node id]`.
    func encode(into out: inout [UInt8]) {
        out.walAppend(position.epoch.value)
        out.walAppend(position.version)
        out.walAppend(id.seq)
        let origin = Array(id.origin.name.utf8)
        precondition(!origin.isEmpty && origin.count <= 255, "node ids are 1 to 255 bytes")
        out.append(UInt8(origin.count))
        out.append(contentsOf: origin)
    }

    static func decode(_ r: inout WALPayloadReader) -> WriteRef? {
        guard let epoch = r.u64(), let version = r.u64(), let seq = r.u64(), let count = r.u8(), count > 0,
            let bytes = r.bytes(Int(count)), let origin = String(validating: bytes, as: UTF8.self)
        else { return nil }
        return WriteRef(
            id: RequestID(origin: NodeID(origin), seq: seq), position: LogPosition(epoch: Epoch(epoch), version: version))
    }
}

/// Reads little-endian fields from a payload; every read is bounds-checked (nil past the end).
struct WALPayloadReader {
    let raw: UnsafeRawBufferPointer
    var offset = 0
    init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

    var isAtEnd: Bool { offset == raw.count }

    mutating func u8() -> UInt8? {
        guard raw.count - offset >= 1 else { return nil }
        defer { offset += 1 }
        return raw[offset]
    }
    mutating func u32() -> UInt32? {
        guard raw.count - offset >= 4 else { return nil }
        defer { offset += 4 }
        return UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    mutating func u64() -> UInt64? {
        guard raw.count - offset >= 8 else { return nil }
        defer { offset += 8 }
        return UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    mutating func bytes(_ n: Int) -> UnsafeRawBufferPointer? {
        guard n >= 0, raw.count - offset >= n else { return nil }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + n)])
    }
}

extension Array where Element == UInt8 {
    mutating func walAppend(_ v: UInt32) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
    mutating func walAppend(_ v: UInt64) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
}
