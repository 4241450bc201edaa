import LisCore

/// The liveness checks of the swarm, each failure named by the check that failed.
public enum LivenessCheck: String, CaseIterable, Sendable {
    /// A client operation was never answered.
    case unanswered = "unanswered"
    /// A liveness-phase probe was answered with a failure.
    case probeFailed = "probe failed"
    /// Hive's record of a block is not active (a steal never finished).
    case noActiveHolder = "no active holder"
    /// The holder Hive names does not serve the block at the record's epoch.
    case holderNotServing = "holder not serving"
    /// A copy that should match the holder's does not.
    case replicaNotConverged = "replica not converged"
}

/// One failed liveness check, readable.
public struct LivenessFailure: Sendable, CustomStringConvertible {
    public var check: LivenessCheck
    public var detail: String
    public var description: String { "\(check.rawValue): \(detail)" }
}

// The liveness checks of the swarm, judged when the run stops (the liveness bound after heal).
extension Simulation {
    /// What is wrong with the cluster now, one readable line per failure:
    /// * every client operation was answered, and those at trace indices in `mustSucceed`
    ///   (the liveness phase's probes, issued after heal) succeeded;
    /// * every block in `blocks` has an active holder that serves it: Hive's record, or the
    ///   volume's home if the block never moved, is `active`, and that node serves its epoch;
    /// * its replicas converged: every node of the record's Q2 regions, and the home node of
    ///   every other region the volume allows, holds the holder's position.
    func livenessFailures(blocks: [BlockKey], mustSucceed: Range<Int>) -> [LivenessFailure] {
        var failures: [LivenessFailure] = []
        func fail(_ check: LivenessCheck, _ detail: String) { failures.append(LivenessFailure(check: check, detail: detail)) }
        var outcome: [Int: ClientOp] = [:]
        for op in clientOps { outcome[op.index] = op }
        for (i, t) in scenario.trace.enumerated() {
            let what = "\(t.client) \(t.op.rawValue) \(describe(t)) issued at \(t.tMs) ms in \(t.region)"
            guard let op = outcome[i] else {
                fail(.unanswered, "\(what) (never issued)")
                continue
            }
            if op.remaining > 0 {
                fail(.unanswered, what)
            } else if op.failed && mustSucceed.contains(i) {
                fail(.probeFailed, what)
            }
        }
        for key in blocks {
            guard let record = hiveRecords[key] ?? map.homeRecord(of: key), let volume = map.volumes[key.volume] else { continue }
            guard record.state == .active else {
                fail(.noActiveHolder, "\(key) is \(record) in Hive")
                continue
            }
            let holder = nodeIndex[record.holder]!
            let serving = nodes[holder].isUp ? nodes[holder].core.servingEpoch(key) : nil
            if serving != record.epoch {
                fail(.holderNotServing, "\(record.holder) holds \(key) at \(record.epoch) in Hive but serves \(serving.map(\.description) ?? "nothing")")
            }
            let position = nodes[holder].storage.position(key)
            var replicas = map.nodes(inRegions: record.quorumRegions)
            for region in map.regions where !record.quorumRegions.contains(region) && volume.allows(region) {
                if let home = map.homeNode(of: region) { replicas.append(home) }
            }
            // The same position is not enough: the copy must hold the same writes (log matching
            // says it does; this checks it).
            func writes(_ storage: SimStorage) -> [WriteRecord] { (storage.logs[key] ?? []).map { WriteRecord(position: $0.position, tag: $0.tag) } }
            let log = writes(nodes[holder].storage)
            for replica in replicas where replica != record.holder {
                let storage = nodes[nodeIndex[replica]!].storage
                if storage.position(key) != position {
                    fail(.replicaNotConverged, "\(replica) has \(key) at \(storage.position(key)), holder \(record.holder) at \(position)")
                } else if writes(storage) != log {
                    fail(.replicaNotConverged, "\(replica) has \(key) at \(position) like \(record.holder), with other writes")
                }
            }
        }
        return failures
    }

    /// A log entry as far as convergence goes: which write is at which position.
    struct WriteRecord: Equatable {
        var position: LogPosition
        var tag: UInt64
    }

    func describe(_ op: TraceOp) -> String {
        guard op.op != .flush, let blockSize = map.volumes[op.volume]?.blockSizeBytes else { return "\(op.volume)" }
        return "\(op.volume):\(op.offset / blockSize)"
    }
}
