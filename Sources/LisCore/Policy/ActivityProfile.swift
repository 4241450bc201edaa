/// When this node's own clients use a block, by wall-clock time: which 15-minute slots of the
/// last eight days saw an operation. The adaptive policy reads it to move a block here shortly
/// before this region usually starts using it (a working day that begins at 09:00 local time),
/// instead of paying remote latency until its rates show the change.
///
/// A slot is a 15-minute interval of wall-clock (UTC) time. A block is *due* at slot `s` when,
/// on the reference day, this node started using it at the same time of day: it used the block
/// in slot s of that day and not in the two slots before. The reference day is a
/// week ago when the profile reaches back that far (time of week: a Monday predicts from the
/// last Monday, so weekends are their own), else the most recent earlier day on which this node
/// used the block at all.
public struct ActivityProfile: Sendable, Equatable {
    public static let slotMs: Int64 = 15 * 60 * 1000
    public static let slotsPerDay: Int64 = 96
    /// Slots older than this are forgotten.
    public static let keptDays: Int64 = 8
    /// A node profiles at most this many blocks (the first it sees), so memory stays bounded
    /// (each profile holds at most 768 slots).
    public static let maxBlocks = 65_536

    /// Absolute slot numbers (wall-clock ms ÷ `slotMs`) with at least one operation.
    var slots: Set<Int64> = []
    public init() {}

    public static func slot(wallMs: Int64) -> Int64 { wallMs >= 0 ? wallMs / slotMs : (wallMs - slotMs + 1) / slotMs }

    public mutating func record(wallMs: Int64) {
        let s = Self.slot(wallMs: wallMs)
        guard slots.insert(s).inserted else { return }
        let oldest = s - Self.keptDays * Self.slotsPerDay
        if let first = slots.min(), first < oldest { slots = slots.filter { $0 >= oldest } }
    }

    public func used(_ slot: Int64) -> Bool { slots.contains(slot) }

    /// Whether a node that checks every `checkIntervalMs` must start moving a block due at a
    /// slot `untilSlotMs` away now: when its next check would leave less than the move's
    /// duration. Not earlier: whoever uses the block until then pays remote latency for every
    /// second it arrives before it is needed.
    public static func moveNow(untilSlotMs: Double, checkIntervalMs: Double, moveMs: Double) -> Bool {
        untilSlotMs > 0 && untilSlotMs - checkIntervalMs < moveMs
    }

    /// Whether this node usually starts using the block at slot `s`, and the day (in days ago)
    /// that says so.
    public func due(at s: Int64) -> Int64? {
        guard let first = slots.min() else { return nil }
        func startedAt(_ day: Int64) -> Bool {
            let t = s - day * Self.slotsPerDay
            return used(t) && !used(t - 1) && !used(t - 2)
        }
        func usedOn(_ day: Int64) -> Bool {
            let end = s - day * Self.slotsPerDay + Self.slotsPerDay / 2
            return slots.contains { $0 > end - Self.slotsPerDay && $0 <= end }
        }
        if first <= s - 7 * Self.slotsPerDay { return startedAt(7) ? 7 : nil }
        guard let day = (1...6).first(where: { s - $0 * Self.slotsPerDay >= first - 2 && usedOn($0) }) else { return nil }
        return startedAt(day) ? day : nil
    }
}
