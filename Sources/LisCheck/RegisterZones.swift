/// Linearizability of one register whose writes all write different values, in O(n log n):
/// Gibbons and Korach's zones ("Testing shared memories", SIAM J. Comput. 26(4), 1997).
///
/// Each value's *cluster* is its write and the reads that returned it (the initial value's
/// cluster has a write at −∞). With f = the earliest return in the cluster and s = the latest
/// call, the cluster's zone is *forward* [f, s] when f < s (some of it must be ordered before
/// the rest of it) and *backward* [s, f] otherwise. Provided no read returns before its write
/// is called, the history is linearizable exactly when no two forward zones intersect and no
/// backward zone lies inside a forward zone.
///
/// The Wing & Gong search (`LinearizabilityChecker`) needs exponential time on such histories
/// when dozens of operations overlap (a partition held them for seconds); zones do not. Block
/// histories qualify: every write carries a new version.
public enum RegisterZones {
    public enum Verdict: Sendable, Equatable {
        case linearizable
        case notLinearizable(String)
        /// The history is outside what zones decide (two writes of one value).
        case notApplicable(String)
    }

    /// Checks the operations of one block.
    public static func check(_ operations: [BlockOperation]) -> Verdict {
        let infinity = Int.max
        var writes: [Int: BlockOperation] = [:]
        var reads: [Int: [BlockOperation]] = [:]
        for op in operations {
            switch (op.input.action, op.output) {
            case (.write(let version), _):
                guard version != 0, writes.updateValue(op, forKey: version) == nil else {
                    return .notApplicable("version \(version) is written twice or is the initial value")
                }
            case (.read, .read(let version)):
                reads[version, default: []].append(op)
            case (.read, _):
                continue  // a read without a value constrains nothing
            }
        }
        struct Zone {
            var version: Int
            var low: Int
            var high: Int
        }
        var forward: [Zone] = []
        var backward: [Zone] = []
        for version in Set(writes.keys).union(reads.keys).sorted() {
            let readers = reads[version] ?? []
            var earliestReturn = infinity
            var latestCall = Int.min
            if version == 0 {
                // The initial value: written at −∞, returned at −∞.
                guard !readers.isEmpty else { continue }
                earliestReturn = Int.min
            } else {
                guard let write = writes[version] else {
                    return .notLinearizable("a read returned version \(version), which no operation wrote")
                }
                // A write whose outcome is unknown and that nobody read may never have happened.
                if write.returnTime == nil && readers.isEmpty { continue }
                for read in readers where read.returnTime! < write.callTime {
                    return .notLinearizable(
                        "a read of version \(version) returned at \(read.returnTime!), before its write was called at \(write.callTime)")
                }
                earliestReturn = write.returnTime ?? infinity
                latestCall = write.callTime
            }
            for read in readers {
                earliestReturn = min(earliestReturn, read.returnTime!)
                latestCall = max(latestCall, read.callTime)
            }
            if earliestReturn < latestCall {
                forward.append(Zone(version: version, low: earliestReturn, high: latestCall))
            } else {
                backward.append(Zone(version: version, low: latestCall, high: earliestReturn))
            }
        }
        forward.sort { $0.low < $1.low }
        for (a, b) in zip(forward, forward.dropFirst()) where b.low < a.high {
            return .notLinearizable(
                "versions \(a.version) and \(b.version) each need their write and reads ordered around the other's "
                    + "(forward zones [\(a.low), \(a.high)] and [\(b.low), \(b.high)] intersect)")
        }
        for zone in backward {
            // The forward zone starting last before this one (they do not intersect each other).
            var lo = 0
            var hi = forward.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if forward[mid].low < zone.low { lo = mid + 1 } else { hi = mid }
            }
            if lo > 0, zone.high < forward[lo - 1].high {
                let outer = forward[lo - 1]
                return .notLinearizable(
                    "version \(zone.version) was written and read entirely while version \(outer.version) had to stay current "
                        + "(backward zone [\(zone.low), \(zone.high)] inside forward zone [\(outer.low), \(outer.high)])")
            }
        }
        return .linearizable
    }
}
