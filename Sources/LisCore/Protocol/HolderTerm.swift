/// This node's term as the block's holder at `epoch` (PROTOCOL.md "Writes", "Reads",
/// "Retries, repair and renewal", "Flush"): the writes and reads waiting for Q2, what it
/// knows of every other copy, and the flush watermark. Its methods are the term's state
/// transitions; the node sends what they decide. A new term starts empty.
struct HolderTerm: Sendable {
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
    let epoch: Epoch
    let quorumRegions: [RegionID]
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
    /// What the placement policy keeps about the block in this term (its `BlockStats`; nil
    /// until the policy first sees an operation, unless the term started with a hand-over's).
    var policyStats: (any Sendable)?
    /// Operations the policy has seen in this term.
    var observed = 0
    /// When this holder last asked another region to take the block.
    var handedOverAt: Instant?
    /// The position this term started from: a steal's install, synced on a majority of every
    /// Q2 region before the term began (a lazy take-up at epoch 0 starts from its own copy).
    let start: LogPosition
    /// The flush watermark (PROTOCOL.md "Flush"): every entry of this term's log up to this
    /// version is on the disks of a majority of every Q2 region.
    private(set) var durableVersion: Version = 0
    /// The highest version of this epoch each Q2 member (this node included) reported synced.
    private var syncedVersion: [NodeID: Version] = [:]

    /// Its epoch and Q2 regions. Mutating only so that callers reach the term where it is,
    /// through its optional (`state.holding?.epochAndQuorum()`): read as a value
    /// (`holding.map`, `holding == nil`) the optional term was copied whole, tables and all,
    /// through its value witness, about 280 instructions a time and three times per write.
    mutating func epochAndQuorum() -> (epoch: Epoch, quorum: [RegionID]) { (epoch, quorumRegions) }

    /// `durableVersion`: how far the start is known durable (a steal's install is synced on
    /// Q2 before the term begins; a take-up at epoch 0 knows nothing yet).
    init(epoch: Epoch, quorumRegions: [RegionID], start: LogPosition, copies: [NodeID: LogPosition] = [:], durableVersion: Version = 0) {
        self.epoch = epoch
        self.quorumRegions = quorumRegions
        self.start = start
        self.copies = copies
        self.durableVersion = durableVersion
    }

    /// The newest position every write up to which is on Q2: the holder's own position when
    /// nothing is pending.
    func committed(_ own: LogPosition) -> LogPosition {
        guard let first = pendingWrites.min(by: { $0.key < $1.key }) else { return own }
        return first.value.previous
    }

    // MARK: Writes

    /// A copy has this holder's log up to `position` (log matching: an accept is stored only
    /// right after its previous entry, an install makes the copy the holder's log): it counts
    /// for every pending write up to there. Returns the writes now on Q2, oldest first — they
    /// complete in order, since a copy that has a write has every earlier one.
    mutating func copyReached(_ node: NodeID, _ position: LogPosition, exact: Bool) -> [PendingWrite] {
        if exact || copies[node].map({ $0 < position }) ?? true { copies[node] = position }
        guard position.epoch == epoch else { return [] }
        var done: [PendingWrite] = []
        for v in pendingWrites.keys.sorted() where v <= position.version {
            guard var pending = pendingWrites[v] else { continue }
            pending.tally.add(node)
            if pending.tally.isComplete {
                pendingWrites[v] = nil
                done.append(pending)
            } else {
                pendingWrites[v] = pending
            }
        }
        return done
    }

    /// The held reads whose writes are all committed now (taken: they are answered).
    mutating func answerableReads(own: LogPosition) -> [HeldRead] {
        guard !heldReads.isEmpty else { return [] }
        let committed = committed(own).version
        let ready = heldReads.filter { $0.upTo <= committed }
        heldReads.removeAll { $0.upTo <= committed }
        return ready
    }

    /// The accepts and read checks that `members` have not answered, to be sent again: per
    /// pending write (oldest first) and per pending read, the members its tally lacks.
    func unanswered(by members: [NodeID]) -> (accepts: [(NodeID, PendingWrite)], readChecks: [(NodeID, UInt64)]) {
        var accepts: [(NodeID, PendingWrite)] = []
        for (_, p) in pendingWrites.sorted(by: { $0.key < $1.key }) {
            for node in members where !p.tally.contains(node) { accepts.append((node, p)) }
        }
        var readChecks: [(NodeID, UInt64)] = []
        for (nonce, read) in pendingReads.sorted(by: { $0.key < $1.key }) {
            for node in members where !read.tally.contains(node) { readChecks.append((node, nonce)) }
        }
        return (accepts, readChecks)
    }

    // MARK: Reads

    /// A Q2 member confirmed it promised nothing newer; returns the read if that completes it.
    mutating func readChecked(_ nonce: UInt64, by node: NodeID) -> PendingRead? {
        guard var pending = pendingReads[nonce] else { return nil }
        pending.tally.add(node)
        guard pending.tally.isComplete else {
            pendingReads[nonce] = pending
            return nil
        }
        pendingReads[nonce] = nil
        return pending
    }

    // MARK: Repair

    /// Whether a copy at `copy` has everything committed up to `committed` and nothing else:
    /// entries past it only in this holder's epoch, which only this holder wrote (writes still
    /// pending here). Such a copy must never be "repaired" back to `committed`: it counts for
    /// those pending writes (swarm seed 5490: a repair took an acceptor back to the last
    /// epoch's position and a steal then lost acknowledged writes).
    func caughtUp(_ copy: LogPosition, _ committed: LogPosition) -> Bool {
        copy == committed || (copy.epoch == epoch && copy.version >= committed.version)
    }

    /// The copies among `nodes` not known to have the committed log; each is noted as asked
    /// at `committed` (its answer is compared with it).
    mutating func askLagging(_ nodes: [NodeID], committed: LogPosition) -> [NodeID] {
        let lagging = nodes.filter { node in !(copies[node].map { caughtUp($0, committed) } ?? false) }
        for node in lagging { asked[node] = committed }
        return lagging
    }

    // MARK: Flush

    /// A Q2 member (this node included) synced its copy up to `position`: move the watermark
    /// to the highest version a majority of every Q2 region reported synced in this epoch. A
    /// copy of this epoch has this holder's log up to its position (log matching), so its
    /// report covers every entry below it; copies of other epochs count for nothing (the
    /// term's start is durable already). Under the `flush-counts-any-sync` mutant any sync
    /// vouches for whatever was committed; under any mutant the watermark may pass the holder's
    /// log (the checker, not this precondition, is to catch what the mutant breaks).
    mutating func synced(_ node: NodeID, at position: LogPosition, own: LogPosition, map: ClusterMap, mutant: CoreMutant?) {
        guard map.contains(node) else { return }
        let version: Version
        if mutant == .flushCountsAnySync {
            version = committed(own).version
        } else {
            guard position.epoch == epoch else { return }
            version = position.version
        }
        syncedVersion[node] = max(syncedVersion[node] ?? 0, version)
        let regionWatermarks = quorumRegions.map { r -> Version in
            let members = map.nodes(in: r)
            let synced = members.map { syncedVersion[$0] ?? 0 }.sorted(by: >)
            return synced.isEmpty ? 0 : synced[members.count / 2]
        }
        durableVersion = max(durableVersion, regionWatermarks.min() ?? 0)
        precondition(
            durableVersion <= own.version || mutant != nil,
            "the watermark passed the holder's log (\(durableVersion) > \(own))")
    }

    /// What this holder can say of a write a flush vouches for: `lost` if its log does not
    /// contain it, `durable` once the watermark passed it, nil while it is not durable yet.
    /// `copy` is this node's copy of the block; the write is of this epoch or an older one.
    func flushOutcome(_ write: WriteRef, copy: Replica) -> FlushVerdict.Outcome? {
        guard contains(write, copy: copy) else { return .lost }
        return write.position.version <= durableVersion ? .durable : nil
    }

    /// Whether this holder's log contains the write at its position. A position names one
    /// history (a holder writes each version once per epoch), so: an entry of this epoch is
    /// this holder's own; one of the epoch the term started from is in the start copy up to
    /// its version (log matching); any other one only if the copy's newest writes list it
    /// there. A write this holder cannot place in its log is reported lost: a false `lost` is
    /// an error the client sees, a false `durable` a promise broken.
    func contains(_ write: WriteRef, copy: Replica) -> Bool {
        let position = write.position
        if position.epoch == epoch { return position.version <= copy.position.version }
        if position.epoch == start.epoch { return position.version <= start.version }
        return copy.recent[write.id] == position
    }

    // MARK: End

    /// The term is over (a newer epoch was promised): the operations it had not answered, in
    /// order — writes, reads being checked, held reads — and the held reads' handles to drop.
    func leftOver() -> (ops: [QueuedOp], heldHandles: [UInt64]) {
        let ops = pendingWrites.sorted(by: { $0.key < $1.key }).map { _, p in QueuedOp(op: .write(p.write), reply: p.reply) }
            + pendingReads.sorted(by: { $0.key < $1.key }).map { _, p in
                QueuedOp(op: .read(offset: p.offset, length: p.length), reply: p.reply)
            }
            + heldReads.map { QueuedOp(op: .read(offset: $0.offset, length: $0.length), reply: $0.reply) }
        return (ops, heldReads.map(\.handle))
    }
}
