import DequeModule

/// Who waits for the answer to an operation a holder serves.
enum ReplyTarget: Hashable, Sendable {
    case client(ClientRequestID)
    case peer(NodeID, RequestID)
}

/// An operation waiting at this node until it can serve the block or learns who does.
struct QueuedOp: Hashable, Sendable {
    var op: BlockOp
    var reply: ReplyTarget
    /// A forwarded operation an earlier run of this node may have got (`ForwardedOp.sentEarlier`).
    var sentToEarlierRun = false
}

/// A steal this node runs for a block (DESIGN §3 steps 1–4): each phase carries what it needs,
/// so a transfer cannot be waited for without a source, nor an install counted without a tally.
struct Steal: Sendable {
    /// Promises of the last active term's Q2 (step 2); they may arrive while the claim is
    /// still at Hive (an acceptor saw it through the watch).
    struct Fencing: Sendable {
        var tally: QuorumTally
        var replies: [NodeID: LogPosition] = [:]
        var recent: [NodeID: [WriteRef]] = [:]
        /// The bytes a former holder sent with its promise, and the position they reach.
        var transfer: (payload: Payload, upTo: LogPosition)?

        /// Counts a promise; returns whether a majority of every region promised.
        mutating func promised(_ from: NodeID, at position: LogPosition, recent: [WriteRef], transfer: Payload?) -> Bool {
            replies[from] = position
            self.recent[from] = recent
            if let transfer, position > (self.transfer?.upTo ?? .empty) { self.transfer = (transfer, position) }
            return tally.add(from)
        }

        /// The highest position a promise reported: every acknowledged write is at or below it.
        var best: LogPosition { replies.values.max() ?? .empty }
    }
    /// This node's Q2 storing the block under the new epoch (step 3).
    struct Installing: Sendable {
        var upTo: LogPosition
        var tally: QuorumTally
        /// Where each Q2 member's copy is after the install (the new holding starts from these).
        var copies: [NodeID: LogPosition] = [:]
    }
    enum Phase: Sendable {
        /// Step 1: Hive CAS to `stealing` under way.
        case claiming(HiveCallID, Fencing)
        /// Step 2: waiting for a majority of the last active term's Q2 to promise.
        case fencing(Fencing)
        /// Step 3: waiting for the bytes up to `upTo` that this node lacks, from `source`.
        case transferring(source: NodeID, upTo: LogPosition)
        /// Step 3: waiting for this node's own Q2 to store the block under the new epoch.
        case installing(Installing)
        /// Step 4: Hive CAS to `active` under way; the install reached these copies.
        case activating(HiveCallID, copies: [NodeID: LogPosition])

        /// The promises collected so far, while they are still counted.
        var fencing: Fencing? {
            switch self {
            case .claiming(_, let f), .fencing(let f): f
            default: nil
            }
        }
        func isClaim(_ call: HiveCallID) -> Bool {
            if case .claiming(call, _) = self { true } else { false }
        }
        func isActivation(_ call: HiveCallID) -> Bool {
            if case .activating(call, _) = self { true } else { false }
        }
    }
    var phase: Phase
    /// The record Hive had when the steal began (nil: never moved) and the one it claims.
    var expected: LeaseRecord?
    var claim: LeaseRecord
    var reason: MoveReason
    /// A steal the adaptive policy started from a prediction: the new holder keeps the block
    /// for its region until this long after it arrives, whatever the rates say meanwhile.
    var reservedMs: Double?
    /// The block's use as its previous holder counted it (a hand-over carries it).
    var rates: RegionRates?
    var startedAt: Instant
    /// A policy's steal retries once when Hive's record was newer than this node's cache; a
    /// steal that only renews this node's own claim (restart, takeover) does not.
    var casRetries = 1
}

/// A claim this node, the block's holder, has at Hive for another region's node (PROTOCOL.md
/// "The hand-over"): once Hive takes it, this node stops serving and sends its log there.
struct HandingOver: Sendable {
    var call: HiveCallID
    var claim: LeaseRecord
    var reason: MoveReason
    var rates: RegionRates
}

/// This node's copy of one block (as acceptor, holder or async copy): the epoch it promised
/// and how far its log reaches, both durable. They change only through these methods, and
/// each change appends its persist effect at once, so whatever the node says of them after
/// (a promise, an accepted write, an installed copy, a position) follows that persist in the
/// step's effects — the shell applies effects in order (`NodeEffect`).
struct Replica: Sendable {
    /// The highest epoch this node promised. It refuses anything older.
    private(set) var promised: Epoch = .zero
    /// The copy's log: its newest entry.
    private(set) var position: LogPosition = .empty
    /// The newest client writes in the copy (bounded): a write that arrives again is answered
    /// with its position instead of being applied twice.
    private(set) var recent: [RequestID: LogPosition] = [:]
    private var recentOrder: Deque<RequestID> = []
    static let recentLimit = WriteRef.keptPerBlock

    /// What storage recovered after a restart (already durable: nothing to persist).
    mutating func restore(promised: Epoch?, position: LogPosition?, recent refs: [WriteRef]) {
        if let promised { self.promised = promised }
        if let position { self.position = position }
        for ref in refs where ref.position <= self.position { remember(ref.id, ref.position) }
    }

    /// Promises `epoch` (never goes back); persists it if it is newer.
    mutating func promise(_ key: BlockKey, _ epoch: Epoch, _ effects: inout [NodeEffect]) {
        guard epoch > promised else { return }
        promised = epoch
        effects.append(.persistPromise(key, epoch))
    }

    /// Stores a write as the copy's next entry at `at` (entries past it are gone).
    mutating func append(_ key: BlockKey, _ write: BlockWrite, at: LogPosition, durable: Bool, _ effects: inout [NodeEffect]) {
        // Only a copy that reached this version holds entries that are now gone, the one at
        // this version included (another epoch's write there is replaced by this one).
        if position.version >= at.version { forget(fromVersion: at.version) }
        position = at
        remember(write.id, at)
        effects.append(.persistWrite(key, at, write, durable: durable))
    }

    /// Makes the copy the sender's log up to `upTo` (`payload`: what it adds; nil: the copy is
    /// there already, only make it durable). `recent`: the sender's newest writes.
    mutating func install(_ key: BlockKey, _ payload: Payload?, upTo: LogPosition, recent refs: [WriteRef]?, _ effects: inout [NodeEffect]) {
        position = upTo
        if let refs {
            recent = [:]
            recentOrder = []
            for ref in refs where ref.position <= upTo { remember(ref.id, ref.position) }
        }
        effects.append(.installTransfer(key, payload, upTo: upTo, recent: recentRefs))
    }

    /// A steal adopts another copy's history: its newest writes replace this copy's when this
    /// copy is not that history.
    mutating func adoptRecent(_ refs: [WriteRef], upTo best: LogPosition) {
        if position != best { forget(fromVersion: 0) }
        for ref in refs where ref.position <= best { remember(ref.id, ref.position) }
    }

    /// The protection the `no-fence` mutant removes: the fenced holder goes on at its epoch.
    mutating func mutantForgetPromise(_ epoch: Epoch) { promised = epoch }

    private mutating func remember(_ id: RequestID?, _ position: LogPosition) {
        guard let id else { return }
        if recent.updateValue(position, forKey: id) == nil { recentOrder.append(id) }
        if recentOrder.count > Self.recentLimit {
            let drop = recentOrder.count - Self.recentLimit
            for old in recentOrder.prefix(drop) { recent[old] = nil }
            recentOrder.removeFirst(drop)
        }
    }

    /// Forgets writes past `position` (entries the copy no longer has).
    private mutating func forget(fromVersion version: Version) {
        recent = recent.filter { $0.value.version < version }
        recentOrder = Deque(recentOrder.filter { recent[$0] != nil })
    }

    var recentRefs: [WriteRef] {
        recentOrder.compactMap { id in recent[id].map { WriteRef(id: id, position: $0) } }
    }
}

/// Everything one node knows and does about one block.
struct BlockState: Sendable {
    /// This node's copy: its promise and its log.
    var replica = Replica()
    var promised: Epoch { replica.promised }
    var position: LogPosition { replica.position }
    var recent: [RequestID: LogPosition] { replica.recent }
    var recentRefs: [WriteRef] { replica.recentRefs }
    /// The newest lease record seen from Hive (responses and watch); nil: none seen.
    var route: LeaseRecord?
    /// When `route` last changed: a claim that stays `stealing` too long is taken over.
    var routeSince: Instant?
    /// Hive was asked about this block since this node started (a restarted node's memory of
    /// where blocks live is gone; it asks before it renews a claim).
    var hiveChecked = false
    /// A newer holder learned from a fence or a redirect, before Hive says so.
    var hint: (holder: NodeID, epoch: Epoch)?
    var holding: HolderTerm?
    /// The last epoch this node held the block at; a former holder answers a fence with data.
    var lastHeld: Epoch?
    var steal: Steal?
    /// This node's claim at Hive for the node it hands the block over to.
    var handingOver: HandingOver?
    /// Operations waiting for this node's steal to finish.
    var queue: [QueuedOp] = []
    /// Operations waiting to learn the holder from Hive.
    var parked: [QueuedOp] = []
    var lookupInFlight = false
    var heat = BlockHeat()
    /// The last time this block moved (seen here) or this node tried to steal it.
    var lastMoveOrAttempt: Instant?
}
