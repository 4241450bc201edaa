import LisCore

extension BuiltInScenarios {
    /// The region holding a volume degrades midway (its network or machines become five times
    /// slower), and a good policy evacuates it. The scenario's `latencyChanges` carry the
    /// degradation; the topology file stays the measured one.
    ///
    /// * Regions `nyc`, `london`, `frankfurt`, one node each; Hive in `frankfurt`.
    /// * Volume `shared`, 16 blocks of 1 MiB, home `nyc`.
    /// * 0–1,200 s: `london-writer` in `london` writes every 200 ms from 0 and
    ///   `frankfurt-writer` in `frankfurt` every 200 ms from 100 ms (5 writes/s each, 6,000
    ///   each), 4 KiB at a random page of a uniformly random one of the 16 blocks.
    /// * At 600 s every RTT to or from `nyc` (its links and its intra-region RTT) is multiplied
    ///   by 5: one `LatencyChange(atMs: 600_000, region: nyc, factor: 5)`.
    ///
    /// 12,000 writes; the last at 1,199.9 s.
    @Sendable static func regionDegraded(seed: UInt64) -> Scenario {
        let shared = volume("shared", blocks: 16, home: nyc)
        let endUs: UInt64 = 1_200_000_000
        let writers = [(region: london, client: "london-writer"), (region: frankfurt, client: "frankfurt-writer")]

        var random = SeededRandom(seed: seed)
        var streams = writers.map { _ in random.fork() }
        var sources: [[TraceOp]] = []
        for (index, writer) in writers.enumerated() {
            sources.append(
                stride(from: UInt64(index) * 100_000, to: endUs, by: 200_000).map { tUs in
                    let block = draw(&streams[index], below: shared.blockCount)
                    return pageAccess(
                        tUs, writer.region, writer.client, .write, shared, block: block, random: &streams[index])
                })
        }
        return scenario(
            "region-degraded", regions: [nyc, london, frankfurt], hiveRegion: frankfurt, volumes: [shared],
            trace: mergedByTime(sources), latencyChanges: [LatencyChange(atMs: 600_000, region: nyc, factor: 5)])
    }
}
