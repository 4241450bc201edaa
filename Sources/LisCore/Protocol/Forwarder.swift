/// An operation this node forwarded for a local client, and whose answer it awaits.
struct Outgoing: Sendable {
    var key: BlockKey
    var op: BlockOp
    var client: ClientRequestID
    var issuedAt: Instant
    var target: NodeID
    var hops: Int
    /// Sends so far that met no answer (a lost message, a holder that crashed).
    var attempt = 0
    /// The run of each node an attempt was first sent to, as this node knew it then.
    var sentTo: [NodeID: UInt64] = [:]
}

/// The operations this node's clients sent to holders elsewhere (PROTOCOL.md "Forwarding",
/// "Retries"): which node each was sent to, how often, and how many redirects it followed.
/// Both counts are bounded, so an operation that cannot reach a holder fails (`unavailable`)
/// instead of circling. The node decides where an operation goes; this keeps the count.
struct Forwarder: Sendable {
    /// A forwarded operation sent this many times without an answer fails.
    static let maxAttempts = 12
    /// An operation redirected this many times fails.
    static let maxHops = 8

    private var outgoing: [RequestID: Outgoing] = [:]

    subscript(request: RequestID) -> Outgoing? { outgoing[request] }
    var count: Int { outgoing.count }

    mutating func start(_ request: RequestID, _ operation: Outgoing) {
        precondition(outgoing[request] == nil, "request id \(request) reused")
        outgoing[request] = operation
    }

    /// The operation is sent (again) to its target, whose newest run this node knows is
    /// `incarnation`: counts the attempt. Returns it, with the run of the target an earlier
    /// attempt went to (nil if none did).
    mutating func sending(_ request: RequestID, targetRun incarnation: UInt64) -> (Outgoing, sentEarlier: UInt64?)? {
        guard var pending = outgoing[request] else { return nil }
        pending.attempt += 1
        let earlier = pending.sentTo[pending.target]
        if earlier == nil { pending.sentTo[pending.target] = incarnation }
        outgoing[request] = pending
        return (pending, earlier)
    }

    /// The operation is answered, failed or handed back to the node: it is no longer awaited.
    @discardableResult
    mutating func finish(_ request: RequestID) -> Outgoing? { outgoing.removeValue(forKey: request) }

    /// The target redirected the operation: counts the hop. Returns it, or nil when it has
    /// followed too many redirects (then it is no longer awaited and fails).
    mutating func redirected(_ request: RequestID) -> Outgoing? {
        guard var pending = outgoing[request] else { return nil }
        pending.hops += 1
        guard pending.hops <= Self.maxHops else {
            outgoing[request] = nil
            return nil
        }
        outgoing[request] = pending
        return pending
    }

    mutating func retarget(_ request: RequestID, to node: NodeID) { outgoing[request]?.target = node }
}
