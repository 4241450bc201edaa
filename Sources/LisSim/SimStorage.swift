import LisCore

/// One entry of a simulated block's write log. `tag` names the client write that produced it,
/// which is all a checker needs to know about the bytes.
struct SimLogEntry: Equatable {
    var position: LogPosition
    var tag: UInt64
    var offset: UInt32
    var length: UInt32
    /// When this node stored the entry, in the order of everything it stored: durability is
    /// "stored at or before the last completed sync".
    var storedSeq: UInt64 = 0
    /// Set when a crash tore the entry: only this many bytes (a multiple of 512) reached the
    /// disk. Recovery finds the record's checksum wrong and drops it with everything after.
    var tornBytes: UInt32?
}

/// A node's simulated disk: per block, the log of writes it stores. Block contents are the log
/// replayed; the checkers compare logs by (position, tag).
///
/// It also knows what a crash keeps. Promises, FUA writes and installs sync the node's whole
/// store before they return (as `BlockStore` does: one write-ahead log), so they make every
/// entry stored before them durable as well; other writes become durable when a later sync
/// completes. Durability is therefore a prefix of each block's log.
struct SimStorage {
    private(set) var logs: [BlockKey: [SimLogEntry]] = [:]
    private(set) var promises: [BlockKey: Epoch] = [:]
    /// The `storedSeq` of the newest entry stored, and of the newest one known durable.
    private(set) var storedSeq: UInt64 = 0
    private(set) var durableSeq: UInt64 = 0

    mutating func promise(_ key: BlockKey, _ epoch: Epoch) {
        promises[key] = epoch
        durableSeq = storedSeq
    }

    /// Stores a write at its position; later entries (from a superseded epoch) are dropped.
    /// `durable`: synced before it returns (FUA).
    mutating func write(_ key: BlockKey, _ position: LogPosition, tag: UInt64, offset: UInt32, length: UInt32, durable: Bool = false) {
        var log = logs[key] ?? []
        while let last = log.last, last.position.version >= position.version { log.removeLast() }
        storedSeq += 1
        log.append(SimLogEntry(position: position, tag: tag, offset: offset, length: length, storedSeq: storedSeq))
        logs[key] = log
        if durable { durableSeq = storedSeq }
    }

    /// Where a sync started now will make the store durable up to, once it completes.
    var syncMark: UInt64 { storedSeq }

    /// A sync that started at `mark` completed.
    mutating func synced(upTo mark: UInt64) { durableSeq = max(durableSeq, mark) }

    func isDurable(_ entry: SimLogEntry) -> Bool { entry.storedSeq <= durableSeq }

    func position(_ key: BlockKey) -> LogPosition { logs[key]?.last?.position ?? .empty }

    func entry(_ key: BlockKey, version: Version) -> SimLogEntry? {
        guard let log = logs[key] else { return nil }
        // Versions are dense from 1 in a complete log; fall back to a search otherwise.
        let i = Int(version) - 1
        if i >= 0, i < log.count, log[i].position.version == version { return log[i] }
        return log.first { $0.position.version == version }
    }

    /// How many recent writes per block a node keeps replayable (a bounded log, as a real
    /// node keeps); a receiver further behind gets a whole-block copy.
    static let logRetention = 256

    /// What a transfer after `after` up to `upTo` carries: the suffix when this log contains
    /// `after` and the suffix is retained; else the log from the start, which replaces the
    /// receiver's (`replace`), costing a whole block when it is longer than the retained log.
    func export(_ key: BlockKey, after: LogPosition, upTo: LogPosition) -> SimTransfer {
        let log = (logs[key] ?? []).filter { $0.position.version <= upTo.version }
        if after == .empty {
            return SimTransfer(replace: true, wholeBlock: log.count > Self.logRetention, entries: log)
        }
        let suffix = log.filter { $0.position.version > after.version }
        if entry(key, version: after.version)?.position == after && suffix.count <= Self.logRetention {
            return SimTransfer(replace: false, wholeBlock: false, entries: suffix)
        }
        return SimTransfer(replace: true, wholeBlock: true, entries: log)
    }

    /// Installs a transfer, leaving the copy exactly at `upTo`: a replacing transfer replaces
    /// the log, a suffix extends it; entries past `upTo` (writes this node stored that were
    /// never committed) are dropped.
    mutating func install(_ key: BlockKey, _ transfer: SimTransfer?, upTo: LogPosition) {
        var log = logs[key] ?? []
        if let transfer {
            var entries = transfer.entries
            for i in entries.indices {
                storedSeq += 1
                entries[i].storedSeq = storedSeq
                entries[i].tornBytes = nil
            }
            if transfer.replace {
                log = entries
            } else if let first = entries.first {
                while let last = log.last, last.position.version >= first.position.version { log.removeLast() }
                log.append(contentsOf: entries)
            }
        }
        while let last = log.last, last.position.version > upTo.version { log.removeLast() }
        logs[key] = log
        durableSeq = storedSeq
    }

    /// What a crash did to one block's log.
    struct CrashDamage: Equatable {
        var key: BlockKey
        /// Entries that did not reach the disk (the torn one included).
        var lost: [SimLogEntry]
        var torn: Bool
    }

    /// The disk as a power loss leaves it. Promises and durable entries survive. After the
    /// last durable entry of a block, a random number of the entries that follow made it to
    /// the disk (possibly none); when some did not, the first of those is, half the time, torn
    /// (a prefix of its bytes, a multiple of 512, reached the disk) rather than missing.
    /// `losesUnsynced` false models a process crash: the page cache keeps everything.
    mutating func crash(losesUnsynced: Bool, tears: Bool, random: inout SeededRandom) -> [CrashDamage] {
        var damage: [CrashDamage] = []
        if losesUnsynced {
            for key in logs.keys.sorted() {
                var log = logs[key]!
                guard let firstVolatile = log.firstIndex(where: { !isDurable($0) }) else { continue }
                let volatile = log.count - firstVolatile
                let kept = Int(random.next() % UInt64(volatile + 1))
                guard kept < volatile else { continue }
                let cut = firstVolatile + kept
                let lost = Array(log[cut...])
                log.removeSubrange(cut...)
                var torn = false
                if tears, random.unit() < 0.5 {
                    var entry = lost[0]
                    let sectors = max(entry.length / 512, 1)
                    entry.tornBytes = UInt32(random.next() % UInt64(sectors)) * 512
                    log.append(entry)
                    torn = true
                }
                logs[key] = log
                damage.append(CrashDamage(key: key, lost: lost, torn: torn))
            }
        }
        durableSeq = storedSeq
        return damage
    }

    /// What a restarting node reads back: its write-ahead log's records carry checksums, so a
    /// torn entry is found and dropped together with everything after it. Returns the position
    /// of each block's recovered copy.
    mutating func recover() -> [BlockKey: LogPosition] {
        var positions: [BlockKey: LogPosition] = [:]
        for key in logs.keys.sorted() {
            var log = logs[key]!
            if let torn = log.firstIndex(where: { $0.tornBytes != nil }) { log.removeSubrange(torn...) }
            logs[key] = log
            if let last = log.last { positions[key] = last.position }
        }
        return positions
    }
}

/// The contents of a simulated transfer.
struct SimTransfer: Equatable {
    /// The entries are the whole history up to the transfer's end: replace the receiver's log.
    var replace: Bool
    /// Sent as a whole-block copy (the receiver was too far behind the retained log).
    var wholeBlock: Bool
    var entries: [SimLogEntry]
}

/// How the simulator puts its log entries into a `Payload` (the core treats it as opaque bytes).
enum SimPayloadCodec {
    static func encodeTag(_ tag: UInt64) -> [UInt8] { withUnsafeBytes(of: tag.littleEndian) { Array($0) } }

    static func decodeTag(_ bytes: [UInt8]) -> UInt64 {
        precondition(bytes.count == 8, "a simulated write carries an 8-byte tag")
        return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    static func encodeTransfer(_ transfer: SimTransfer) -> [UInt8] {
        var out: [UInt8] = [(transfer.replace ? 1 : 0) | (transfer.wholeBlock ? 2 : 0)]
        out.reserveCapacity(1 + transfer.entries.count * 32)
        for e in transfer.entries {
            for v in [e.position.epoch.value, e.position.version, e.tag, UInt64(e.offset) << 32 | UInt64(e.length)] {
                withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
            }
        }
        return out
    }

    static func decodeTransfer(_ bytes: [UInt8]) -> SimTransfer {
        precondition(!bytes.isEmpty && (bytes.count - 1) % 32 == 0, "malformed simulated transfer")
        var entries: [SimLogEntry] = []
        bytes.withUnsafeBytes { raw in
            var i = 1
            while i < bytes.count {
                func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
                let packed = u64(i + 24)
                entries.append(SimLogEntry(
                    position: LogPosition(epoch: Epoch(u64(i)), version: u64(i + 8)), tag: u64(i + 16),
                    offset: UInt32(packed >> 32), length: UInt32(packed & 0xFFFF_FFFF)))
                i += 32
            }
        }
        return SimTransfer(replace: bytes[0] & 1 != 0, wholeBlock: bytes[0] & 2 != 0, entries: entries)
    }
}
