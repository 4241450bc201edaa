/// Identifies an operation a node forwards to a holder; unique per origin node.
public struct RequestID: Hashable, Sendable, CustomStringConvertible, Codable {
    public var origin: NodeID
    public var seq: UInt64
    public init(origin: NodeID, seq: UInt64) {
        self.origin = origin
        self.seq = seq
    }
    public var description: String { "\(origin)#\(seq)" }
    public func _rawHashValue(seed: Int) -> Int { tableHash(pairBits(origin.fold, seq), seed: seed) }
}

/// An operation on its way from the node a client talks to, to the block's holder.
public struct ForwardedOp: Hashable, Sendable, Codable {
    public var id: RequestID
    public var key: BlockKey
    public var op: BlockOp
    /// The run (incarnation) of the receiver that an earlier attempt of this operation was
    /// sent to, as the sender knew it; nil if none was sent to the receiver before. A receiver
    /// that restarted since may have stored the write and lost its id with its unsynced log
    /// (the bytes survive a process crash in the page cache): it must not store it again.
    public var sentEarlier: UInt64?
    public init(id: RequestID, key: BlockKey, op: BlockOp, sentEarlier: UInt64? = nil) {
        self.id = id
        self.key = key
        self.op = op
        self.sentEarlier = sentEarlier
    }
}

/// The holder's answer to a forwarded operation.
public enum ForwardResult: Hashable, Sendable, Codable {
    /// The write is on the holder's Q2 at this version.
    case written(LogPosition)
    case read(Payload)
    /// This node does not serve the block; here is the newest lease it knows.
    case redirect(LeaseRecord?)
    /// The operation failed for a reason retrying elsewhere will not fix.
    case failed(ClientError)
}

/// Messages between nodes (LisWire encodes them). Every case is safe to receive twice.
public enum PeerMessage: Hashable, Sendable, Codable {
    /// A client operation forwarded to the node believed to hold the block.
    case forward(ForwardedOp)
    case forwardReply(RequestID, ForwardResult)
    /// Holder → Q2 member: store this write at `position` (Paxos phase 2a). `previous` is the
    /// holder's entry before it: an acceptor whose copy does not end there does not store it
    /// (log matching, as in Raft), so a copy at position p always has the holder's log up to p.
    case accept(BlockKey, position: LogPosition, previous: LogPosition, write: BlockWrite)
    /// Q2 member → holder: stored (`ok`: its copy has the holder's log up to `position`), or
    /// refused: it promised `promised`, or its copy does not end at `previous` (a hole).
    case accepted(BlockKey, position: LogPosition, ok: Bool, promised: Epoch)
    /// Stealer → last active Q2: promise `epoch` and stop accepting older ones (phase 1a).
    /// `have` is the stealer's own copy, so the old holder can send only what it lacks.
    case fence(BlockKey, epoch: Epoch, have: LogPosition)
    /// Q2 member → stealer: promised, with its copy's position; the old holder also sends
    /// the transfer (phase 1b). `promised` is set when it refused (it promised higher).
    /// `recent` names the replier's newest writes and where they are in its log, so the new
    /// holder recognises a write that arrives again after the steal adopted it.
    case fenced(BlockKey, epoch: Epoch, position: LogPosition, transfer: Payload?, refusedFor: Epoch?, recent: [WriteRef] = [])
    /// Stealer → any up-to-date copy: send what I lack (when the old holder did not answer).
    case transferRequest(BlockKey, epoch: Epoch, have: LogPosition, upTo: LogPosition)
    case transferReply(BlockKey, epoch: Epoch, transfer: Payload, upTo: LogPosition)
    /// Stealer → its own Q2: make the transferred block durable under `epoch`. Also holder →
    /// a copy that lags (repair): the same message, with the holder's log after the copy's.
    /// A copy already at or past `upTo` in the same epoch keeps what it has.
    case install(BlockKey, epoch: Epoch, transfer: Payload, after: LogPosition, upTo: LogPosition, recent: [WriteRef] = [])
    /// The answer to an install: `position` is the copy's position afterwards.
    case installed(BlockKey, epoch: Epoch, ok: Bool, promised: Epoch, position: LogPosition)
    /// Holder → a copy whose position it does not know (repair): where is your copy?
    case probeCopy(BlockKey, epoch: Epoch)
    case copyAt(BlockKey, epoch: Epoch, position: LogPosition, promised: Epoch)
    /// Holder → one node in every other region: a committed write, in order (async copy).
    /// `previous` as in `accept`: a copy applies it only right after the holder's entry before.
    case replicate(BlockKey, position: LogPosition, previous: LogPosition, write: BlockWrite)
    /// Holder → Q2: confirm no newer epoch was promised, so a read is not stale.
    case readCheck(BlockKey, epoch: Epoch, nonce: UInt64)
    case readChecked(BlockKey, epoch: Epoch, nonce: UInt64, ok: Bool)
    /// Origin → the holder of blocks it had writes acknowledged on (NBD `FLUSH`): are these
    /// writes on a majority's disks? The answer says, per write, durable, lost or ask elsewhere.
    case flush(UInt64, [FlushItem])
    case flushed(UInt64, [FlushVerdict])
    /// Holder → its Q2 members: sync, then say how far your copies of these blocks reach.
    case syncCopies([BlockKey])
    case copiesSynced([SyncedCopy])
    /// Holder → a node of another region: the holder's policy wants the block there.
    case handOver(BlockKey, HandOver, reason: MoveReason, rates: RegionRates)
    /// A node → a node of the region an operator moves blocks to (`lis block move`): steal
    /// them (at most `NodeCore.maxRequestedBlocks`).
    case takeBlocks([BlockKey])
    /// A node → another region's home node, every `LinkMeter.probeIntervalMs`: measures the round
    /// trip (the answer is `pong` with the same nonce). The answer carries the answering node's
    /// own measurements, so every node also learns the round trips between two other regions,
    /// and its Hive calls' smoothed duration (nil: none answered yet), which prices a move there.
    case ping(UInt64)
    case pong(UInt64, rtts: [RegionRtt], hiveMs: Double? = nil)
}

/// How a holder hands a block to another region (PROTOCOL.md "The hand-over").
public enum HandOver: Hashable, Sendable, Codable {
    /// Steal it: the holder at `epoch` asks (it is farther from Hive than the receiver).
    case steal(epoch: Epoch)
    /// The holder claimed the block at Hive for the receiver and stopped serving it: `claim`
    /// is Hive's record, and `position`, `transfer` (its log after `claim.stealerPosition`) and
    /// `recent` are the holder's whole log, which holds every write it acknowledged, so the
    /// receiver installs it at once, without fencing.
    case claimed(LeaseRecord, position: LogPosition, transfer: Payload?, recent: [WriteRef])
}

/// One round trip a node measured to another region (`pong`).
public struct RegionRtt: Hashable, Sendable, Codable {
    public var region: RegionID
    public var ms: Double
    public init(_ region: RegionID, ms: Double) {
        self.region = region
        self.ms = ms
    }
}

/// A client write and its place in a block's log.
public struct WriteRef: Hashable, Sendable, Codable {
    /// How many of a copy's newest writes a node remembers (and stores) per block.
    public static let keptPerBlock = 256
    public var id: RequestID
    public var position: LogPosition
    public init(id: RequestID, position: LogPosition) {
        self.id = id
        self.position = position
    }
}

/// A peer message with its sender, the sender's run and its hybrid logical clock.
public struct PeerEnvelope: Hashable, Sendable, Codable {
    public var from: NodeID
    /// How many times the sender started before this run (`NodeCore.restore`): its receivers
    /// tell which run of it an operation went to (`ForwardedOp.sentEarlier`).
    public var incarnation: UInt64
    public var hlc: HLCTimestamp
    public var message: PeerMessage
    public init(from: NodeID, incarnation: UInt64 = 0, hlc: HLCTimestamp, message: PeerMessage) {
        self.from = from
        self.incarnation = incarnation
        self.hlc = hlc
        self.message = message
    }

    enum CodingKeys: String, CodingKey { case from, incarnation, hlc, message }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        from = try c.decode(NodeID.self, forKey: .from)
        incarnation = try c.decodeIfPresent(UInt64.self, forKey: .incarnation) ?? 0  // a node before runs were sent
        hlc = try c.decode(HLCTimestamp.self, forKey: .hlc)
        message = try c.decode(PeerMessage.self, forKey: .message)
    }
}

extension PeerMessage {
    /// The one block the message is about; nil for a message about several blocks or none.
    var block: BlockKey? {
        switch self {
        case .forward(let op): op.key
        case .accept(let key, _, _, _), .accepted(let key, _, _, _), .fence(let key, _, _), .fenced(let key, _, _, _, _, _),
            .transferRequest(let key, _, _, _), .transferReply(let key, _, _, _), .install(let key, _, _, _, _, _),
            .installed(let key, _, _, _, _), .probeCopy(let key, _), .copyAt(let key, _, _, _), .replicate(let key, _, _, _),
            .readCheck(let key, _, _), .readChecked(let key, _, _, _), .handOver(let key, _, _, _):
            key
        case .forwardReply, .flush, .flushed, .syncCopies, .copiesSynced, .takeBlocks, .ping, .pong: nil
        }
    }
}
