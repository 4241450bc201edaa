import LisCore
import Testing

@testable import LisSim

/// The oracle's schedule on traces small enough to reason about by hand.
@Suite struct OraclePlanTests {
    static let nyc = RegionID("nyc")
    static let sydney = RegionID("sydney")
    static let volume = VolumeSpec(name: VolumeName("vm"), sizeBytes: 16 << 20, blockSizeBytes: 1 << 20, home: nyc)
    static let map = ClusterMap(nodes: [(NodeID("nyc-1"), nyc), (NodeID("sydney-1"), sydney)], volumes: [volume]) { a, b in
        a == b ? 0.5 : 200
    }
    static let plan = OraclePlan(map: map, hiveRegion: nyc) { _, _, _ in 1 }

    static func write(_ tMs: Double, _ region: RegionID, block: UInt64) -> TraceOp {
        TraceOp(tMs: tMs, region: region, client: "c", op: .write, volume: volume.name, offset: block << 20, length: 4096)
    }

    /// A block Sydney starts writing moves there before its first write, early enough for the
    /// move (two Hive round trips from Sydney, one to New York, with the margin) to finish.
    @Test func aBlockMovesBeforeItsNewWriterStarts() {
        let trace = (0..<20).map { Self.write(60_000 + Double($0) * 50, Self.sydney, block: 3) }
        let moves = Self.plan.moves(trace: trace)
        #expect(moves.count == 1)
        #expect(moves.first?.to == Self.sydney && moves.first?.key == BlockKey(Self.volume.name, BlockID(3)))
        let lead = Self.plan.moveMs(from: Self.nyc, to: Self.sydney, atMs: 60_000)
        #expect(lead > 600)
        #expect(moves.first.map { $0.tMs == 60_000 - lead } ?? false)
    }

    /// One remote write between local ones: moving there and back costs more than it saves;
    /// so do five writes a turn (each move costs about as much as four remote writes).
    @Test func aOneOffWriteMovesNothing() {
        let trace = [Self.write(0, Self.nyc, block: 1), Self.write(100, Self.sydney, block: 1), Self.write(200, Self.nyc, block: 1)]
        #expect(Self.plan.moves(trace: trace).isEmpty)
        var turns: [TraceOp] = []
        for turn in 0..<6 {
            let region = turn % 2 == 0 ? Self.sydney : Self.nyc
            for k in 0..<5 { turns.append(Self.write(Double(turn + 1) * 10_000 + Double(k) * 100, region, block: 2)) }
        }
        #expect(Self.plan.moves(trace: turns).isEmpty)
    }

    /// Alternating writers, ten writes a turn, gaps long enough to move in: the block follows
    /// each one (six moves cost less than thirty remote writes).
    @Test func itFollowsWritersWhenTheGapsAllowIt() {
        let trace = (0..<6).flatMap { turn in
            let region = turn % 2 == 0 ? Self.sydney : Self.nyc
            return (0..<10).map { Self.write(Double(turn + 1) * 10_000 + Double($0) * 100, region, block: 2) }
        }
        let moves = Self.plan.moves(trace: trace)
        #expect(moves.map(\.to) == [Self.sydney, Self.nyc, Self.sydney, Self.nyc, Self.sydney, Self.nyc])
        // Each move starts before the turn it serves and after the previous turn's last write.
        for (i, move) in moves.enumerated() {
            #expect(move.tMs < Double(i + 1) * 10_000 && (i == 0 || move.tMs > Double(i) * 10_000 + 900))
        }
    }

    /// Three regions write a block equally; it is best held in the middle one until that one
    /// degrades fivefold at 60 s, then in the next best: the plan prices each operation at
    /// the RTTs of its time, so it evacuates once, after the degradation.
    @Test func itEvacuatesARegionWhenItDegrades() {
        let (a, b, c) = (RegionID("a"), RegionID("b"), RegionID("c"))
        let shared = VolumeSpec(name: VolumeName("v"), sizeBytes: 1 << 20, blockSizeBytes: 1 << 20, home: a)
        let rtts: [Set<RegionID>: Double] = [[a, b]: 20, [a, c]: 80, [b, c]: 90]
        let map = ClusterMap(nodes: [(NodeID("a-1"), a), (NodeID("b-1"), b), (NodeID("c-1"), c)], volumes: [shared]) { x, y in
            x == y ? 0.5 : rtts[[x, y]]!
        }
        let plan = OraclePlan(map: map, hiveRegion: b) { x, y, tMs in
            tMs >= 60_000 && (x == a || y == a) ? 5 : 1
        }
        let trace = (0..<1200).map { i in
            TraceOp(
                tMs: Double(i) * 100, region: [a, b, c][i % 3], client: "c", op: .write, volume: shared.name,
                offset: 0, length: 4096)
        }
        let moves = plan.moves(trace: trace)
        #expect(moves.map(\.to) == [b])
        #expect(moves.first.map { $0.tMs >= 59_000 && $0.tMs < 61_000 } ?? false)
    }
}
