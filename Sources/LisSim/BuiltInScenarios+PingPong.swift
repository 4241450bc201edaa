import LisCore

extension BuiltInScenarios {
    /// Two regions take turns writing the same blocks, faster than a lease can usefully
    /// follow: a policy that moves the blocks at every turn pays a steal per turn and gains
    /// nothing, so the best it can do is stay put (adversarial for follow-the-writer).
    ///
    /// * Regions `london` and `nyc`, one node each; Hive in `london`.
    /// * Volume `shared`, 8 blocks of 1 MiB, home `london`.
    /// * 0–3,600 s (an hour, so that moves per block-hour are measured, not extrapolated from
    ///   a few minutes) in turns of 5 s: `london-writer` in `london` writes during turns 0, 2, 4, …
    ///   ([0, 5) s, [10, 15) s, …), `nyc-writer` in `nyc` during turns 1, 3, 5, … ([5, 10) s, …).
    ///   During its turn a writer writes every 500 ms, starting at the turn's first instant
    ///   (10 writes per turn), 4 KiB at a random page of a uniformly random one of the 8 blocks.
    ///
    /// About 1.25 writes per block per turn: a move (≈ 300 ms of Hive, fence and transfer
    /// round trips between the two) saves at most one remote write (≈ 80 ms) before the turn
    /// changes, so even the offline optimum stays put. (At one write every 100 ms, six per
    /// block per turn, following every turn paid off, and the offline optimum did.)
    ///
    /// 720 turns, 7,200 writes; the last at 3,599.5 s.
    @Sendable static func pingPong(seed: UInt64) -> Scenario {
        let shared = volume("shared", blocks: 8, home: london)
        let turnUs: UInt64 = 5_000_000
        let gapUs: UInt64 = 500_000
        let turns: UInt64 = 720
        let writers = [(region: london, client: "london-writer"), (region: nyc, client: "nyc-writer")]

        var random = SeededRandom(seed: seed)
        var ops: [TraceOp] = []
        for turn in 0..<turns {
            let writer = writers[Int(turn % 2)]
            for tUs in stride(from: turn * turnUs, to: (turn + 1) * turnUs, by: Int(gapUs)) {
                let block = draw(&random, below: shared.blockCount)
                ops.append(pageAccess(tUs, writer.region, writer.client, .write, shared, block: block, random: &random))
            }
        }
        return scenario("ping-pong", regions: [london, nyc], hiveRegion: london, volumes: [shared], trace: ops)
    }
}
