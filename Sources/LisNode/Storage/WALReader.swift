#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Recovery: replays the log's segments in order and decides, for a record that fails, whether
/// it is a torn tail (drop it) or damage (refuse to open).
///
/// The rules follow from how the log is written (`WriteAheadLog`): each batch is one `pwrite`
/// then `fdatasync`, and the next batch is written only after that sync returned; a new
/// segment is created only after the previous one was synced in full. So only the **last batch
/// of the last segment** can be incomplete after a crash, and it was never acknowledged as
/// durable. Hence:
/// * A batch is applied only if its header and every record in it verify (length, CRC-32C,
///   known type, payload that parses, sequence number one above the previous batch).
/// * The last batch of the last segment may fail: it is cut off (the file is truncated at its
///   start) and the bytes dropped are reported. A batch is "last" when it reaches the end of
///   the file, or — when its own header is damaged, so its length is unknown — when no valid
///   batch header with a higher sequence number follows it.
/// * Any other failure is corruption: the error names the file and the offset and the store
///   does not open, because state built past a lost record (a promise, a position) could
///   make the node vote for or serve what it no longer has.
/// * A record that verifies but contradicts the state (a write to an unknown volume, …) is
///   corruption too, wherever it is.
///
/// What this cannot tell apart: bit rot inside the very last batch, after it was synced, looks
/// like a torn write and is dropped.
enum WALReader {
    struct Outcome {
        var state = StoreState()
        /// Sequence numbers of the segments present, ascending.
        var segments: [UInt64] = []
        var records = 0
        var droppedTailBytes = 0
        var nextBatchSeq: UInt64 = 1
        var bytesSinceCheckpoint: UInt64 = 0
        var checkpointBytes: UInt64 = 0
        /// The last record replayed is `closed`.
        var cleanShutdown = false
    }

    static func segmentSeq(_ name: String) -> UInt64? {
        guard name.utf8.count == 20, name.hasSuffix(".log") else { return nil }
        let digits = name.utf8.prefix(16)
        guard digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(String(decoding: digits, as: UTF8.self))
    }

    static func recover(directory: String) throws(StorageError) -> Outcome {
        var result = Outcome()
        result.segments = try StorageIO.list(directory).compactMap(segmentSeq).sorted()
        for (i, seq) in result.segments.enumerated() where i > 0 && seq != result.segments[i - 1] + 1 {
            throw StorageError(
                .corruptLog, "log segment \(WriteAheadLog.name(seq - 1)) is missing",
                path: WriteAheadLog.path(directory, seq))
        }
        var lastBatchSeq: UInt64? = nil
        for (i, seq) in result.segments.enumerated() {
            let path = WriteAheadLog.path(directory, seq)
            let bytes = try StorageIO.readAll(path)
            let isLast = i == result.segments.count - 1
            // `withUnsafeBytes` rethrows untyped errors; carry the typed one out in a Swift.Result.
            let replayed = bytes.withUnsafeBytes { raw in
                Swift.Result { () throws(StorageError) -> Int in
                    try replay(raw, path: path, isLast: isLast, lastBatchSeq: &lastBatchSeq, into: &result)
                }
            }
            let end = try replayed.get()
            if end < bytes.count {
                precondition(isLast, "only the last segment may have a torn tail")
                result.droppedTailBytes = bytes.count - end
                result.cleanShutdown = false
                let fd = try StorageIO.openFile(path, O_WRONLY)
                defer { close(fd) }
                try StorageIO.truncate(fd, to: UInt64(end), path: path)
                let r = StorageIO.syncAll(fd)
                if r != 0 { throw .os("cannot sync the truncated log", path: path, code: r) }
            }
        }
        result.nextBatchSeq = (lastBatchSeq ?? 0) + 1
        return result
    }

    /// Replays one segment; returns where its valid part ends (its size unless the tail is torn).
    private static func replay(
        _ raw: UnsafeRawBufferPointer, path: String, isLast: Bool, lastBatchSeq: inout UInt64?,
        into result: inout Outcome
    ) throws(StorageError) -> Int {
        func corrupt(_ offset: Int, _ why: String) -> StorageError {
            StorageError(
                .corruptLog, "corrupt log record (\(why)); refusing to open", path: path, offset: UInt64(offset))
        }
        var records: [(offset: Int, record: WALRecord)] = []
        var offset = 0
        while offset < raw.count {
            // The batch header.
            let header = frame(raw, at: offset, limit: raw.count)
            guard case .ok(.batch(let seq, let length), _) = header, length >= WALRecord.batchRecordBytes else {
                let why: String
                switch header {
                case .bad(let reason): why = reason
                case .ok(.batch, _): why = "batch shorter than its header"
                case .ok: why = "expected a batch header"
                }
                if isLast && !laterBatchExists(raw, after: offset, above: lastBatchSeq) { return offset }
                throw corrupt(offset, why)
            }
            // A header that verifies is not torn; a gap in the numbers means a lost batch.
            if let last = lastBatchSeq, seq != last + 1 {
                throw corrupt(offset, "batch \(seq) follows batch \(last)")
            }
            let batchEnd = offset + Int(length)
            if batchEnd > raw.count {
                if isLast { return offset }
                throw corrupt(offset, "batch of \(length) bytes runs past the end of the segment")
            }
            // Its records: all must verify before any applies.
            records.removeAll(keepingCapacity: true)
            var p = offset + WALRecord.batchRecordBytes
            while p < batchEnd {
                switch frame(raw, at: p, limit: batchEnd) {
                case .ok(.batch, _):
                    throw corrupt(p, "batch header inside a batch")
                case .ok(let record, let next):
                    records.append((p, record))
                    p = next
                case .bad(let why):
                    if isLast && batchEnd == raw.count { return offset }
                    throw corrupt(p, why)
                }
            }
            for (at, record) in records {
                if let problem = result.state.apply(record) { throw corrupt(at, problem) }
                if case .checkpoint = record {
                    result.bytesSinceCheckpoint = 0
                    result.checkpointBytes = UInt64(length)
                }
            }
            if !records.contains(where: { if case .checkpoint = $0.record { true } else { false } }) {
                result.bytesSinceCheckpoint += UInt64(length)
            }
            result.records += records.count
            result.cleanShutdown = records.last?.record == .closed
            lastBatchSeq = seq
            offset = batchEnd
        }
        return offset
    }

    enum Frame {
        case ok(WALRecord, next: Int)
        case bad(String)
    }

    /// The record at `offset`, which must end by `limit`.
    static func frame(_ raw: UnsafeRawBufferPointer, at offset: Int, limit: Int) -> Frame {
        guard limit - offset >= WALRecord.headerBytes else { return .bad("truncated record header") }
        let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        let crc = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        guard length <= WALRecord.payloadBytesMax, length <= limit - offset - WALRecord.headerBytes else {
            return .bad("record length \(length) runs past the end")
        }
        let next = offset + WALRecord.headerBytes + length
        let checked = UnsafeRawBufferPointer(rebasing: raw[(offset + 8)..<next])
        guard CRC32C.checksum(checked) == crc else { return .bad("checksum mismatch") }
        let tag = raw[offset + 8]
        let payload = UnsafeRawBufferPointer(rebasing: raw[(offset + WALRecord.headerBytes)..<next])
        guard let record = WALRecord.decode(tag: tag, payload: payload) else {
            return .bad("record of type \(tag) and \(length) bytes does not parse")
        }
        return .ok(record, next: next)
    }

    /// Whether a valid batch header with a sequence number above `above` starts somewhere after
    /// `offset`: then the batch at `offset` was followed by a later write, so it had been synced.
    static func laterBatchExists(_ raw: UnsafeRawBufferPointer, after offset: Int, above: UInt64?) -> Bool {
        let size = WALRecord.batchRecordBytes
        guard raw.count - offset > size else { return false }
        for q in (offset + 1)...(raw.count - size) {
            guard raw[q + 8] == WALRecord.Tag.batch.rawValue,
                UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: q, as: UInt32.self))
                    == UInt32(WALRecord.batchPayloadBytes),
                case .ok(.batch(let seq, _), _) = frame(raw, at: q, limit: raw.count)
            else { continue }
            if seq > (above ?? 0) { return true }
        }
        return false
    }
}
