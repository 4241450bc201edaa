/// A protection of the protocol deliberately switched off, so the simulator's checkers can
/// prove they would catch its absence ("teeth"). Only the simulator can set one: the setter
/// is behind `@_spi(Simulation)`, which the node runtime never imports (a layering test checks).
public enum CoreMutant: String, Sendable, CaseIterable {
    /// The old holder answers a fence but keeps serving writes after the steal.
    case noFence = "no-fence"
    /// An acceptor (the holder included) stores writes of an epoch below its promise.
    case acceptStaleEpoch = "accept-stale-epoch"
    /// The holder acknowledges a write before a majority of its Q2 has it.
    case ackBeforeQuorum = "ack-before-quorum"
    /// The new holder starts from its own copy, without the old holder's last writes.
    case skipTransfer = "skip-transfer"
    /// A flush counts a Q2 member's sync as covering the holder's whole committed log, whatever
    /// its copy holds (the rule before the watermark; PROTOCOL.md "Flush").
    case flushCountsAnySync = "flush-counts-any-sync"
}
