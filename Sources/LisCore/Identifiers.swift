/// A name with its bytes folded once (FNV-1a) when it is made: what the name types hash,
/// instead of their `String`s. Block keys, nodes and regions are looked up several times per
/// I/O, and hashing their strings each time was a tenth of the node's write path. Equal names
/// have equal folds; `==` compares the folds, then the names.
struct FoldedName: Hashable, Sendable {
    let name: String
    let fold: UInt64
    init(_ name: String) {
        self.name = name
        fold = name.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
    static func == (a: FoldedName, b: FoldedName) -> Bool { a.fold == b.fold && a.name == b.name }
    func hash(into hasher: inout Hasher) { hasher.combine(fold) }
}

/// A table's hash of 64 bits that already stand for a key (a name's fold, a block's key): the
/// bits mixed with the table's seed by murmur3's finalizer, a bijection in which every input
/// bit changes about half the output bits. The identifiers a node looks up on every I/O give
/// this to `Dictionary` and `Set` (`_rawHashValue(seed:)`, the standard library's hook for a
/// type's own hash) instead of running `Hasher` over the same bits: SipHash cost 150
/// instructions a lookup, about 20 lookups per write (docs/BENCHMARKS.md). Each table's seed
/// is random per process and per table, so which keys share a bucket cannot be chosen from
/// outside.
@inline(__always)
public func tableHash(_ bits: UInt64, seed: Int) -> Int {
    var x = bits ^ UInt64(truncatingIfNeeded: seed)
    x ^= x >> 33
    x &*= 0xff51_afd7_ed55_8ccd
    x ^= x >> 33
    x &*= 0xc4ce_b9fe_1a85_ec53
    x ^= x >> 33
    return Int(truncatingIfNeeded: x)
}

/// Combines two keys' bits into one for `tableHash` (a block's volume and index, a request's
/// origin and sequence number).
@inline(__always)
public func pairBits(_ a: UInt64, _ b: UInt64) -> UInt64 { a ^ (b &* 0x9e37_79b9_7f4a_7c15) }

/// A number this process hands out in sequence (a client command's id, a held read's handle)
/// as a table's key, hashed by `tableHash`: `UInt64`'s own hash runs SipHash, about 190
/// instructions a lookup, and a node's runtime looks up four such keys per write.
public struct SequenceKey: Hashable, Sendable {
    public let raw: UInt64
    @inline(__always) public init(_ raw: UInt64) { self.raw = raw }
    public func _rawHashValue(seed: Int) -> Int { tableHash(raw, seed: seed) }
}

/// A named site such as `nyc`, `london` or `sydney` (DESIGN §1).
public struct RegionID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    private let folded: FoldedName
    public var name: String { folded.name }
    public func _rawHashValue(seed: Int) -> Int { tableHash(folded.fold, seed: seed) }
    public init(_ name: String) { folded = FoldedName(name) }

    /// What is wrong with `name` as a region (or node) name, or nil if nothing is.
    public static func problem(with name: String) -> String? {
        TOMLReader.isValidName(name) ? nil : "must be \(TOMLReader.nameForm), got \"\(name)\""
    }
    public var description: String { name }
    public static func < (a: RegionID, b: RegionID) -> Bool { a.name < b.name }
    public init(from decoder: Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(name) }
}

/// One `lis` daemon. Belongs to exactly one region; stable for its lifetime.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    private let folded: FoldedName
    public var name: String { folded.name }
    var fold: UInt64 { folded.fold }
    public func _rawHashValue(seed: Int) -> Int { tableHash(folded.fold, seed: seed) }
    public init(_ name: String) { folded = FoldedName(name) }
    public var description: String { name }
    public static func < (a: NodeID, b: NodeID) -> Bool { a.name < b.name }
    public init(from decoder: Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(name) }
}

/// The name of a volume (a VM disk or a file). Also its NBD export name.
public struct VolumeName: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    private let folded: FoldedName
    public var name: String { folded.name }
    var fold: UInt64 { folded.fold }
    public func _rawHashValue(seed: Int) -> Int { tableHash(folded.fold, seed: seed) }
    public init(_ name: String) { folded = FoldedName(name) }
    public var description: String { name }
    public static func < (a: VolumeName, b: VolumeName) -> Bool { a.name < b.name }
    public init(from decoder: Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(name) }

    /// Why a string cannot be a volume name, or nil if it can. Names travel in NBD export
    /// names, URLs and file names, so they are kept to a portable alphabet.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "a volume name must not be empty" }
        if name.utf8.count > 128 { return "a volume name must be at most 128 bytes" }
        let allowed = name.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
                || c == 0x2D || c == 0x5F || c == 0x2E
        }
        if !allowed { return "a volume name may contain only letters, digits, '-', '_' and '.'" }
        if name.hasPrefix(".") || name.hasPrefix("-") { return "a volume name must not start with '.' or '-'" }
        return nil
    }
}

/// The index of a block within its volume: byte offset / block size.
public struct BlockID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let index: UInt64
    public init(_ index: UInt64) { self.index = index }
    public var description: String { String(index) }
    public static func < (a: BlockID, b: BlockID) -> Bool { a.index < b.index }
    public init(from decoder: Decoder) throws { index = try decoder.singleValueContainer().decode(UInt64.self) }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(index) }
}

/// A block of a volume: the unit of lease, heat, migration and transfer.
public struct BlockKey: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let volume: VolumeName
    public let block: BlockID
    public init(_ volume: VolumeName, _ block: BlockID) {
        self.volume = volume
        self.block = block
    }
    public var description: String { "\(volume):\(block)" }
    public static func < (a: BlockKey, b: BlockKey) -> Bool {
        a.volume != b.volume ? a.volume < b.volume : a.block < b.block
    }
    public func hash(into hasher: inout Hasher) {
        volume.hash(into: &hasher)
        hasher.combine(block.index)
    }
    public func _rawHashValue(seed: Int) -> Int { tableHash(pairBits(volume.fold, block.index), seed: seed) }
}

/// A block's ballot. Only grows; every steal takes a new one; an acceptor that has promised
/// epoch `e` refuses everything older, which is what fences an old holder.
public struct Epoch: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public static let zero = Epoch(0)
    public var next: Epoch { Epoch(value + 1) }
    public func _rawHashValue(seed: Int) -> Int { tableHash(value, seed: seed) }
    public var description: String { "e\(value)" }
    public static func < (a: Epoch, b: Epoch) -> Bool { a.value < b.value }
    public init(from decoder: Decoder) throws { value = try decoder.singleValueContainer().decode(UInt64.self) }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(value) }
}

/// A point on a node's monotonic clock, in microseconds. The core never reads a clock: the
/// shell (the node runtime or the simulator) passes `now` into every step.
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public var us: Int64
    public init(us: Int64) { self.us = us }
    public static func ms(_ ms: Double) -> Instant { Instant(us: Int64((ms * 1000).rounded())) }
    public static let zero = Instant(us: 0)
    public var ms: Double { Double(us) / 1000 }
    public var description: String { "\(ms)ms" }
    public static func < (a: Instant, b: Instant) -> Bool { a.us < b.us }
    public init(from decoder: Decoder) throws { us = try decoder.singleValueContainer().decode(Int64.self) }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(us) }
    public static func + (a: Instant, d: Duration) -> Instant { Instant(us: a.us + d.us) }
    public static func - (a: Instant, b: Instant) -> Duration { Duration(us: a.us - b.us) }
}

/// A span of time in microseconds. Fractional milliseconds matter: a local write takes about
/// 0.1 ms, which the seed's whole-millisecond arithmetic rounded to zero.
public struct Duration: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var us: Int64
    public init(us: Int64) { self.us = us }
    public static func ms(_ ms: Double) -> Duration { Duration(us: Int64((ms * 1000).rounded())) }
    public static let zero = Duration(us: 0)
    public var ms: Double { Double(us) / 1000 }
    public var description: String { "\(ms)ms" }
    public static func < (a: Duration, b: Duration) -> Bool { a.us < b.us }
    public static func + (a: Duration, b: Duration) -> Duration { Duration(us: a.us + b.us) }
}
