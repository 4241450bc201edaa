import LisCore
import LisHTTP

/// The metric families a node exports at `GET /metrics` (docs/METRICS.md lists them).
/// Every series carries the node's `node` and `region` labels; none names a block.
enum NodeMetrics {
    typealias Family = Metrics.Family

    static let clientRequest = Family(
        "lis_client_request_seconds", .histogram,
        "NBD commands from arrival to reply at the node the client is attached to, by operation (read, write, trim, write_zeroes, flush).")
    static let clientErrors = Family(
        "lis_client_request_errors_total", .counter, "NBD commands answered with an error, by operation.")
    static let stealsStarted = Family(
        "lis_steals_started_total", .counter,
        "Steals this node started, by cause: placement (a policy's decision), recovery (a stalled claim, a restart), operator.")
    static let stealsCompleted = Family(
        "lis_steals_completed_total", .counter, "Steals that moved a block to this node, by cause.")
    static let stealsAbandoned = Family(
        "lis_steals_abandoned_total", .counter, "Steals that ended without moving the block (a lost race, a refusal, Hive unreachable).")
    static let stealSeconds = Family(
        "lis_steal_seconds", .histogram, "Steals that moved a block to this node, from the claim in Hive to serving the block.")
    static let hiveCall = Family(
        "lis_hive_call_seconds", .histogram,
        "The lease protocol's Hive calls, from the call to its answer (with the emulated distance to Hive, if any), by call.")
    static let peerBytesSent = Family(
        "lis_peer_bytes_sent_total", .counter,
        "Frame bytes sent to peers, by lane: bulk carries blocks' images (transfers), control everything else.")
    static let peerBytesReceived = Family("lis_peer_bytes_received_total", .counter, "Bytes read from peers.")
    static let peerMessages = Family(
        "lis_peer_messages_total", .counter,
        "Peer messages by fate: sent, delivered to this node, dropped (peer unreachable or its queue full; the protocol retries).")
    static let peerRefused = Family(
        "lis_peer_connections_refused_total", .counter,
        "Peer connections closed on bad input, by reason: unauthenticated, malformed, wrong_sender.")
    static let nbdConnections = Family("lis_nbd_connections", .gauge, "NBD connections open.")
    static let blocksHeld = Family("lis_blocks_held", .gauge, "Blocks whose lease this node holds and serves.")
    static let failed = Family(
        "lis_node_failed", .gauge, "1 once storage failed and the node stopped acknowledging anything (fail-stop).")

    /// Declared at start, so a scrape lists every family before anything happened.
    static let all = [
        clientRequest, clientErrors, stealsStarted, stealsCompleted, stealsAbandoned, stealSeconds, hiveCall,
        peerBytesSent, peerBytesReceived, peerMessages, peerRefused, nbdConnections, blocksHeld, failed,
    ]

    /// The label of a Hive call.
    static func call(_ request: HiveRequest) -> String {
        switch request {
        case .get: "get"
        case .compareAndSet: "compare_and_set"
        }
    }

    /// What the transport counted, as the counters of a scrape.
    static func record(_ counters: PeerTransportCounters, in metrics: Metrics) {
        metrics.set(peerBytesSent, [("lane", "control")], to: Double(counters.controlBytesSent))
        metrics.set(peerBytesSent, [("lane", "bulk")], to: Double(counters.bulkBytesSent))
        metrics.set(peerBytesReceived, to: Double(counters.bytesReceived))
        metrics.set(peerMessages, [("fate", "sent")], to: Double(counters.sent))
        metrics.set(peerMessages, [("fate", "delivered")], to: Double(counters.delivered))
        metrics.set(peerMessages, [("fate", "dropped")], to: Double(counters.dropped))
        metrics.set(peerRefused, [("reason", "unauthenticated")], to: Double(counters.unauthenticated))
        metrics.set(peerRefused, [("reason", "malformed")], to: Double(counters.malformed))
        metrics.set(peerRefused, [("reason", "wrong_sender")], to: Double(counters.wrongSender))
    }
}
