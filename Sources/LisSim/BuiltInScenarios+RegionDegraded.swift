import LisCore

extension BuiltInScenarios {
    /// The region holding a shared volume degrades midway (its network or machines become five
    /// times slower), and a good policy evacuates it. Three regions write every block equally,
    /// so the best holder is the one with the shortest round trips to the others — `london`,
    /// between `nyc` and `frankfurt` — until `london` degrades; from then `frankfurt` is (mean
    /// write RTT from the three writers: london 33.5 → 167.7 ms, frankfurt 36.2 → 62.4 ms).
    /// Each region's own writes favour its own region, so a policy that only counts operations
    /// sees three equal claims; one that weighs latencies sees the degradation. The scenario's
    /// `latencyChanges` carry it; the topology file stays the measured one.
    ///
    /// * Regions `nyc`, `london`, `frankfurt`, one node each; Hive in `frankfurt`.
    /// * Volume `shared`, 16 blocks of 1 MiB, home `london`.
    /// * 0–1,200 s: `nyc-writer`, `london-writer` and `frankfurt-writer` each write every 300 ms,
    ///   from 0, 100 and 200 ms (10 writes/s in all, 4,000 each), 4 KiB at a random page of a
    ///   uniformly random one of the 16 blocks.
    /// * At 600 s every RTT to or from `london` (its links and its intra-region RTT) is
    ///   multiplied by 5: one `LatencyChange(atMs: 600_000, region: london, factor: 5)`.
    ///
    /// 12,000 writes; the last at 1,199.9 s.
    @Sendable static func regionDegraded(seed: UInt64) -> Scenario {
        let shared = volume("shared", blocks: 16, home: london)
        let endUs: UInt64 = 1_200_000_000
        let writers = [
            (region: nyc, client: "nyc-writer"), (region: london, client: "london-writer"),
            (region: frankfurt, client: "frankfurt-writer"),
        ]

        var random = SeededRandom(seed: seed)
        var streams = writers.map { _ in random.fork() }
        var sources: [[TraceOp]] = []
        for (index, writer) in writers.enumerated() {
            sources.append(
                stride(from: UInt64(index) * 100_000, to: endUs, by: 300_000).map { tUs in
                    let block = draw(&streams[index], below: shared.blockCount)
                    return pageAccess(
                        tUs, writer.region, writer.client, .write, shared, block: block, random: &streams[index])
                })
        }
        return scenario(
            "region-degraded", regions: [nyc, london, frankfurt], hiveRegion: frankfurt, volumes: [shared],
            trace: mergedByTime(sources), latencyChanges: [LatencyChange(atMs: 600_000, region: london, factor: 5)])
    }
}
