/// What each policy asks of the node around its decisions, in one place: the core asks these
/// questions, never a policy's name (docs/POLICY.md gives each policy's source).
extension PolicyName {
    /// The writer's node decides (`tiers`): its forwarded writes are timed and counted there.
    var decidesAtOrigin: Bool { self == .tiers }
    /// Lis's own policy (`adaptive`): it learns when this node's clients use each block (time-of-
    /// day predictions), counts the blocks it hands to each region per volume (co-access), keeps
    /// the per-block cooldown on hand-overs (the baselines follow their sources, which have
    /// none) and reports the candidates it declined.
    var learnsUse: Bool { self == .adaptive }
    var keepsCooldown: Bool { self == .adaptive }
    var explainsDeclines: Bool { self == .adaptive }
    /// A node hands over at most one block per this interval (CockroachDB's rule); nil: no limit.
    var minHandOverIntervalMs: Double? { self == .crdbFtw ? HolderPolicy.crdbMinTransferIntervalMs : nil }
}
