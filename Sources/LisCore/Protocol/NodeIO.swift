/// Identifies a client request in the shell that submitted it (an NBD cookie, a trace op).
public typealias ClientRequestID = UInt64

/// Why a client operation failed.
public enum ClientError: String, Hashable, Sendable, Codable {
    /// No holder could be reached or agreed on in time; the client may retry.
    case unavailable
    /// A bounded queue is full; the client may retry.
    case busy
    /// The block or range is not part of the volume.
    case outOfRange
    /// A flush cannot vouch for the writes since the last flush: a node that held some of them
    /// restarted and may have lost them (NBD: the flush fails with EIO).
    case lost
}

/// What the node tells the client.
public enum ClientResult: Hashable, Sendable {
    case written(LogPosition)
    /// The data, possibly still a `Payload.read` for the shell to fill from local storage.
    case read(Payload)
    case flushed
    case failed(ClientError)
}

/// A timer a node arms; it comes back as `NodeInput.timer` at or after its instant.
public enum TimerID: Hashable, Sendable {
    /// A forwarded write is still unanswered: it is already slow (its latency is at least the
    /// time elapsed), so the policy may count it now rather than a round trip later.
    case slowWrite(RequestID)
    /// Resend a steal's outstanding messages (a reply may have been lost).
    case stealResend(BlockKey, Epoch)
    /// Retry a forwarded operation that met a redirect loop or an unknown holder.
    case forwardRetry(RequestID)
    /// A forwarded operation's `attempt` is still unanswered: send it again (a message or the
    /// holder may have been lost).
    case forwardTimeout(RequestID, attempt: Int)
    /// Resend the accepts and read checks a holder still waits for.
    case quorumResend(BlockKey, Epoch)
    /// Bring the block's lagging copies (Q2 minority, async copies) up to the holder's log.
    case repair(BlockKey, Epoch)
    /// Ask again the nodes that have not answered a flush.
    case flushResend(UInt64)
    /// Measure the local persist latency again.
    case probe
    /// Adaptive: look for blocks this region usually starts using in the next slot.
    case predict
    /// Measure the round trip to every other region again.
    case rttProbe
}

/// Everything that can happen to a node. The shell passes `now` along with each input.
public enum NodeInput: Hashable, Sendable {
    /// A client operation on one block, from a local client (NBD, a trace).
    case client(ClientRequestID, BlockKey, BlockOp)
    /// A client asks that every write acknowledged so far be durable (NBD `FLUSH`).
    case clientFlush(ClientRequestID)
    case peer(PeerEnvelope)
    case hive(HiveCallID, HiveResponse)
    /// Hive's watch reports a block's new lease record.
    case hiveWatch(BlockKey, LeaseRecord)
    case timer(TimerID)
    /// A `sync` effect completed: everything persisted before it is durable.
    case synced(UInt64)
    /// A `probe` effect completed.
    case probed(UInt64)
}

/// What the shell must do, in order. Persist effects come before the sends that depend on them:
/// a shell applies the list front to back and does not reorder.
public enum NodeEffect: Hashable, Sendable {
    /// Durably record that this node promised `epoch` for the block (fsync before what follows).
    case persistPromise(BlockKey, Epoch)
    /// Store a write at `position` (the log entry replaces anything at or after that version).
    /// `durable`: fsync before what follows (FUA).
    case persistWrite(BlockKey, LogPosition, BlockWrite, durable: Bool)
    /// Store a transfer durably; afterwards this node's copy is at `upTo`.
    /// `nil`: nothing to add; only make the copy durable. `recent`: the copy's newest writes
    /// after the install (`Replica.recent`, oldest first), to be stored with it: a write that
    /// arrives again after a restart must be recognised (`NodeCore.restore`).
    case installTransfer(BlockKey, Payload?, upTo: LogPosition, recent: [WriteRef] = [])
    /// Make everything stored so far durable, then report `NodeInput.synced(token)`.
    case sync(UInt64)
    /// Persist a small record and report `NodeInput.probed(token)`, to measure local latency.
    case probe(UInt64)
    /// Send a message; `Payload.read`/`.transfer` inside it are filled from storage first.
    case send(NodeID, PeerEnvelope)
    /// Read `length` bytes at `offset` of the block from storage now and keep them under
    /// `handle` until a reply carries `Payload.held(handle)` or `dropHeldRead(handle)` comes.
    /// A holder's storage already has its writes not yet on Q2; a read that sees them is
    /// answered only once they are (a steal may drop them), with the bytes it saw.
    case holdRead(UInt64, BlockKey, offset: UInt32, length: UInt32)
    /// The held read will not be answered from here (the node stopped holding the block).
    case dropHeldRead(UInt64)
    case hive(HiveCallID, HiveRequest)
    case reply(ClientRequestID, ClientResult)
    case armTimer(TimerID, at: Instant)
    /// Something observers (logs, the simulator's checkers, the dashboard) want to know.
    case event(NodeEvent)
}

/// A decision or a change of a block's lease, for logs, checkers and explanations.
public enum NodeEvent: Hashable, Sendable {
    /// This node starts serving the block at `epoch` (lazily at epoch 0, or after a steal).
    case holding(BlockKey, Epoch)
    /// This node stopped serving the block: it promised a newer epoch.
    case fenced(BlockKey, Epoch)
    /// The policy decided to steal; the Hive CAS is under way.
    case stealStarted(BlockKey, from: NodeID, reason: MoveReason)
    /// The steal succeeded; the block is held here at `epoch`.
    case moved(BlockKey, epoch: Epoch, from: NodeID, stealMs: Double, reason: MoveReason)
    /// The steal stopped without moving the block (lost a race, refused, pinned).
    case stealAbandoned(BlockKey, reason: StealEnd)
    /// The holder's policy looked at moving the block to `to` and did not, and why (at most
    /// one per block per 10 s).
    case declined(BlockKey, to: RegionID, reason: DeclineReason)
}

/// What a node is waiting on (`NodeCore.workInFlight`): each count should fall back to zero
/// when clients stop; one that stays up names where operations are stuck.
public struct WorkInFlight: Sendable, Equatable, Codable {
    /// Client operations forwarded to a holder elsewhere, awaiting its answer.
    public var forwards = 0
    /// Calls to Hive awaiting their answer.
    public var hiveCalls = 0
    /// Blocks whose holder this node is asking Hive for.
    public var lookups = 0
    /// Operations waiting for a Hive lookup, and for a steal of their block to end.
    public var parkedForHive = 0
    public var queuedBehindSteals = 0
    /// At this node as holder: writes not yet committed on Q2, reads awaiting Q2's check or
    /// their writes' commit.
    public var pendingWrites = 0
    public var pendingReads = 0
    /// Client flushes not yet answered.
    public var pendingFlushes = 0

    public init() {}
}
