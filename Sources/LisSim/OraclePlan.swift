import LisCore

/// The `oracle` policy: it knows the whole trace in advance and moves every block on the
/// schedule that minimises the latency of all its operations, under the same latency model the
/// online policies reason with. No online policy can beat that schedule's modelled latency;
/// the simulator then runs it through the real protocol (steals, fences, transfers), so its
/// measured latency is the bound as the cluster can reach it.
///
/// Per block, a dynamic program over the block's operations in time order, one state per
/// region the volume allows (the holder's region after that operation):
/// * an operation from region r served in h at time t costs RTT(r, h) at t: the topology's RTT
///   (the intra-region one when r = h) times the scenario's latency factor then, so a region
///   that degrades is priced as degraded from the moment it does;
/// * changing the holder from h to h' between two operations `gap` ms apart costs the move's
///   price, move(h, h') — a move is never free: it runs two Hive round trips, a fence and a
///   transfer, and the online policies charge the same price (`adaptive` charges at least
///   its duration) — plus what it delays the next operation, max(0, move(h, h') − gap).
///   Without the price the optimum moves a block before nearly every operation from another
///   region whenever the gap allows (hundreds of moves per block-hour in `ping-pong`), a
///   schedule that bounds nothing a real system would run;
/// * move(h, h') = 1.2 × (2 × RTT(h', Hive) (the claim and the activation) + RTT(h', h) (the
///   fence and the transfer) + `localStepsMs`) + `marginMs`: the duration, with room for jitter,
///   its RTTs those at the time of the operation the move precedes.
/// The block starts at its volume's home. Each change of holder becomes a steal by the target
/// region's home node, started move(h, h') before the first operation the new holder
/// serves (but not before the operation preceding it).
struct OraclePlan: Sendable {
    struct Move: Equatable {
        var tMs: Double
        var key: BlockKey
        var to: RegionID
        var reason: String
    }

    static let localStepsMs = 5.0
    static let marginMs = 20.0

    let map: ClusterMap
    let hiveRegion: RegionID
    /// The scenario's factor on the RTT between two regions at a time (`Scenario.latencyFactor`).
    let latencyFactor: @Sendable (RegionID, RegionID, Double) -> Double

    func rtt(_ a: RegionID, _ b: RegionID, atMs: Double) -> Double { map.rttMs(a, b) * latencyFactor(a, b, atMs) }

    func moveMs(from h: RegionID, to t: RegionID, atMs: Double) -> Double {
        let base = 2 * rtt(t, hiveRegion, atMs: atMs) + (t == h ? 0 : rtt(t, h, atMs: atMs)) + Self.localStepsMs
        return base * 1.2 + Self.marginMs
    }

    /// Every move of every block, in time order.
    func moves(trace: [TraceOp]) -> [Move] {
        var accesses: [BlockKey: [(tMs: Double, region: RegionID)]] = [:]
        for op in trace where op.op != .flush {
            guard let volume = map.volumes[op.volume] else { continue }
            let size = volume.blockSizeBytes
            var block = op.offset / size
            while block * size < op.offset + op.length {
                accesses[BlockKey(op.volume, BlockID(block)), default: []].append((op.tMs, op.region))
                block += 1
            }
        }
        return accesses.keys.sorted().flatMap { key in plan(key, accesses[key]!) }.sorted { ($0.tMs, $0.key) < ($1.tMs, $1.key) }
    }

    /// The best schedule for one block's accesses (in time order).
    func plan(_ key: BlockKey, _ accesses: [(tMs: Double, region: RegionID)]) -> [Move] {
        guard let volume = map.volumes[key.volume], !accesses.isEmpty else { return [] }
        let regions = map.regions.filter { volume.allows($0) }
        guard regions.count > 1, let homeSlot = regions.firstIndex(of: volume.home) else { return [] }
        let count = regions.count
        // cost[h]: the least total latency of the accesses so far ending with the block in h.
        var cost = [Double](repeating: .infinity, count: count)
        cost[homeSlot] = 0
        var previousTMs = 0.0
        // from[i][h]: where the block was before access i, in the best schedule ending in h.
        var from: [[Int]] = []
        from.reserveCapacity(accesses.count)
        for access in accesses {
            let gap = access.tMs - previousTMs
            var next = [Double](repeating: .infinity, count: count)
            var choice = [Int](repeating: 0, count: count)
            for t in 0..<count {
                for h in 0..<count where cost[h] < .infinity {
                    let price = moveMs(from: regions[h], to: regions[t], atMs: access.tMs)
                    let move = h == t ? 0 : price + max(0, price - gap)
                    if cost[h] + move < next[t] { (next[t], choice[t]) = (cost[h] + move, h) }
                }
                next[t] += rtt(access.region, regions[t], atMs: access.tMs)
            }
            from.append(choice)
            cost = next
            previousTMs = access.tMs
        }
        // Walk back from the cheapest end.
        var holder = cost.indices.min { cost[$0] < cost[$1] }!
        var holders = [Int](repeating: 0, count: accesses.count)
        for i in stride(from: accesses.count - 1, through: 0, by: -1) {
            holders[i] = holder
            holder = from[i][holder]
        }
        var moves: [Move] = []
        var current = homeSlot
        for (i, h) in holders.enumerated() where h != current {
            let previous = i == 0 ? 0 : accesses[i - 1].tMs
            let lead = moveMs(from: regions[current], to: regions[h], atMs: accesses[i].tMs)
            let at = max(previous, accesses[i].tMs - lead)
            moves.append(Move(
                tMs: at, key: key, to: regions[h],
                reason: "oracle: the best schedule serves this block in \(regions[h]) from \(TiersPolicy.fmt(accesses[i].tMs)) ms (\(regions[current]) before)"))
            current = h
        }
        return moves
    }
}
