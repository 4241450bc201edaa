import HeapModule
import LisCore

/// The simulator's agenda: events ordered by virtual time, ties broken by insertion order, so
/// a run is a pure function of its seed and inputs.
struct EventQueue<Payload> {
    private struct Entry: Comparable {
        var at: Int64
        var seq: UInt64
        var index: Int
        static func < (a: Entry, b: Entry) -> Bool { a.at != b.at ? a.at < b.at : a.seq < b.seq }
        static func == (a: Entry, b: Entry) -> Bool { a.at == b.at && a.seq == b.seq }
    }
    private var heap = Heap<Entry>()
    private var payloads: [Int: Payload] = [:]
    private var free: [Int] = []
    private var nextIndex = 0
    private var seq: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    /// When the next event is due; nil if none is.
    var nextTime: Instant? { heap.min.map { Instant(us: $0.at) } }
    var count: Int { heap.count }

    mutating func schedule(at: Instant, _ payload: Payload) {
        let index = free.popLast() ?? { defer { nextIndex += 1 }; return nextIndex }()
        payloads[index] = payload
        seq += 1
        heap.insert(Entry(at: at.us, seq: seq, index: index))
    }

    mutating func pop() -> (Instant, Payload)? {
        guard let e = heap.popMin() else { return nil }
        let p = payloads.removeValue(forKey: e.index)!
        free.append(e.index)
        return (Instant(us: e.at), p)
    }
}

/// FNV-1a, 64 bit: a small, stable digest of the event trace (not for security).
struct TraceDigest {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ s: String) {
        for b in s.utf8 {
            value ^= UInt64(b)
            value &*= 0x0000_0100_0000_01B3
        }
        value ^= 0x0A
        value &*= 0x0000_0100_0000_01B3
    }
    var hex: String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
