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
}

/// This node's role as the block's holder at `epoch`.
struct Holding: Sendable {
    struct PendingWrite: Sendable {
        var tally: QuorumTally
        var reply: ReplyTarget
        var write: BlockWrite
        var position: LogPosition
        /// The holder's entry before this one (an accept carries it for log matching).
        var previous: LogPosition
        var startedAt: Instant
        /// Replies owed to copies of the same write that arrived while it was pending.
        var extraReplies: [ReplyTarget] = []
    }
    struct PendingRead: Sendable {
        var tally: QuorumTally
        var reply: ReplyTarget
        var offset: UInt32
        var length: UInt32
    }
    /// A read whose check completed while writes were pending: its bytes (held by the shell)
    /// include writes up to `upTo`, so it is answered once they are committed.
    struct HeldRead: Sendable {
        var handle: UInt64
        var reply: ReplyTarget
        var offset: UInt32
        var length: UInt32
        var upTo: Version
    }
    var epoch: Epoch
    var quorumRegions: [RegionID]
    var heldReads: [HeldRead] = []
    var pendingWrites: [Version: PendingWrite] = [:]
    var pendingReads: [UInt64: PendingRead] = [:]
    /// What this holder knows of each other copy (Q2 members and async copies): the copy has
    /// the holder's log up to this position. Unknown copies are asked (`probeCopy`).
    var copies: [NodeID: LogPosition] = [:]
    /// Copies asked where they are, with the committed position when asked: a copy that
    /// answers below it lost messages (links are FIFO, so every write sent before the question
    /// arrived before it) and gets what it lacks.
    var asked: [NodeID: LogPosition] = [:]
    /// When a repair was last sent to a copy, so a burst of refusals sends one.
    var repairSentAt: [NodeID: Instant] = [:]
    var quorumResendArmed = false
    var repairArmed = false
    /// What a holder-side policy counts in this term.
    var policyStats = HolderPolicy.Stats()
    /// When this holder last asked another region to take the block.
    var handedOverAt: Instant?
    /// The position this term started from: a steal's install, synced on a majority of every
    /// Q2 region before the term began (a lazy take-up at epoch 0 starts from its own copy).
    var start: LogPosition = .empty
    /// The flush watermark (PROTOCOL.md "Flush"): every entry of this term's log up to this
    /// version is on the disks of a majority of every Q2 region.
    var durableVersion: Version = 0
    /// The highest version of this epoch each Q2 member (this node included) reported synced.
    var syncedVersion: [NodeID: Version] = [:]

    /// The newest position every write up to which is on Q2: the holder's own position when
    /// nothing is pending.
    func committed(_ own: LogPosition) -> LogPosition {
        guard let first = pendingWrites.keys.min() else { return own }
        return pendingWrites[first]!.previous
    }
}

/// A steal this node runs for a block (DESIGN §3 steps 1–4).
struct Steal: Sendable {
    enum Phase: Hashable, Sendable {
        /// Step 1: Hive CAS to `stealing` under way.
        case claiming(HiveCallID)
        /// Step 2: waiting for a majority of the last active term's Q2 to promise.
        case fencing
        /// Step 3: waiting for the bytes this node lacks from `source`.
        case transferring(source: NodeID)
        /// Step 3: waiting for this node's own Q2 to store the block under the new epoch.
        case installing
        /// Step 4: Hive CAS to `active` under way.
        case activating(HiveCallID)
    }
    var phase: Phase
    /// The record Hive had when the steal began (nil: never moved) and the one it claims.
    var expected: LeaseRecord?
    var claim: LeaseRecord
    var reason: String
    /// A steal the adaptive policy started from a prediction: the new holder keeps the block
    /// for its region until this long after it arrives, whatever the rates say meanwhile.
    var reservedMs: Double?
    /// The block's use as its previous holder counted it (a hand-over carries it).
    var rates: HolderPolicy.RegionRates?
    var startedAt: Instant
    var fenceTally: QuorumTally
    var fenceReplies: [NodeID: LogPosition] = [:]
    var fenceRecent: [NodeID: [WriteRef]] = [:]
    var transfer: (payload: Payload, upTo: LogPosition)?
    var best: LogPosition = .empty
    var installTally: QuorumTally?
    /// Where each Q2 member's copy is after the install (the new holding starts from these).
    var copies: [NodeID: LogPosition] = [:]
    /// A policy's steal retries once when Hive's record was newer than this node's cache; a
    /// steal that only renews this node's own claim (restart, takeover) does not.
    var casRetries = 1
}

/// Everything one node knows and does about one block.
struct BlockState: Sendable {
    /// The highest epoch this node promised (durable). It refuses anything older.
    var promised: Epoch = .zero
    /// This node's copy of the block (as acceptor, holder or async copy).
    var position: LogPosition = .empty
    /// The newest lease record seen from Hive (responses and watch); nil: none seen.
    var route: LeaseRecord?
    /// When `route` last changed: a claim that stays `stealing` too long is taken over.
    var routeSince: Instant?
    /// Hive was asked about this block since this node started (a restarted node's memory of
    /// where blocks live is gone; it asks before it renews a claim).
    var hiveChecked = false
    /// A newer holder learned from a fence or a redirect, before Hive says so.
    var hint: (holder: NodeID, epoch: Epoch)?
    var holding: Holding?
    /// The last epoch this node held the block at; a former holder answers a fence with data.
    var lastHeld: Epoch?
    var steal: Steal?
    /// Operations waiting for this node's steal to finish.
    var queue: [QueuedOp] = []
    /// Operations waiting to learn the holder from Hive.
    var parked: [QueuedOp] = []
    var lookupInFlight = false
    var heat = BlockHeat()
    /// The newest client writes in this node's copy (bounded): a write that arrives again is
    /// answered with its position instead of being applied twice.
    var recent: [RequestID: LogPosition] = [:]
    var recentOrder: Deque<RequestID> = []
    static let recentLimit = 256

    mutating func remember(_ id: RequestID?, _ position: LogPosition) {
        guard let id else { return }
        if recent.updateValue(position, forKey: id) == nil { recentOrder.append(id) }
        if recentOrder.count > Self.recentLimit {
            let drop = recentOrder.count - Self.recentLimit
            for old in recentOrder.prefix(drop) { recent[old] = nil }
            recentOrder.removeFirst(drop)
        }
    }

    /// Forgets writes past `position` (entries the copy no longer has).
    mutating func forgetAfter(_ position: LogPosition) {
        recent = recent.filter { $0.value.version <= position.version }
        recentOrder = Deque(recentOrder.filter { recent[$0] != nil })
    }

    var recentRefs: [WriteRef] {
        recentOrder.compactMap { id in recent[id].map { WriteRef(id: id, position: $0) } }
    }
    /// The last time this block moved (seen here) or this node tried to steal it.
    var lastMoveOrAttempt: Instant?
}

/// An operation this node forwarded and whose reply it awaits.
struct Outgoing: Sendable {
    var key: BlockKey
    var op: BlockOp
    var client: ClientRequestID
    var issuedAt: Instant
    var target: NodeID
    var hops: Int
    /// Sends so far that met no answer (a lost message, a holder that crashed).
    var attempt = 0
}
