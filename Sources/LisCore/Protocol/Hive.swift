/// Identifies a Hive call of one node, so the shell can return its answer.
public typealias HiveCallID = UInt64

/// A call to Hive, the cluster's consistent metadata store (DESIGN §2). Engines: embedded
/// (SQLite), etcd, and the simulator's linearizable model.
public enum HiveRequest: Hashable, Sendable {
    case get(BlockKey)
    /// Replace the record if it is exactly `expected` (nil: no record yet). Pinning is checked
    /// here, below every policy: a record whose holder's region the volume does not allow is
    /// refused.
    case compareAndSet(BlockKey, expected: LeaseRecord?, new: LeaseRecord)
}

public enum HiveResponse: Hashable, Sendable {
    case record(BlockKey, LeaseRecord?)
    /// `ok` tells whether the swap happened; `current` is the record after the call.
    case swapped(BlockKey, ok: Bool, current: LeaseRecord?)
    /// Hive could not be reached or refused the call (pinning); the caller retries later.
    case unavailable(BlockKey, reason: String)
}
