import LisCore

extension BuiltInScenarios {
    /// Each region works on its own neighbourhood of a large volume, and the neighbourhoods
    /// drift, so the blocks a region wants keep changing: the locality workload of the Paxi
    /// benchmark (Ailijiang et al., "Dissecting the Performance of Strongly-Consistent
    /// Replication Protocols", SIGMOD 2019). A policy must follow the drift without moving
    /// blocks that are about to be left behind.
    ///
    /// * Regions `nyc`, `london`, `tokyo`, `sydney`, `saopaulo` (index 0–4), one node each;
    ///   Hive in `nyc`.
    /// * Volume `data`, 1,000 blocks of 1 MiB, home `nyc`.
    /// * 0–600 s: client `<region>-client` of region i issues an operation every 500 ms from
    ///   i × 100 ms (2 operations/s). Its block is round(c + 8 z) wrapped modulo 1,000, where
    ///   z is a standard normal deviate and the centre c = 200 i + ⌊t / 2 s⌋ drifts by one
    ///   block every 2 s; the operation is a write or a read with probability 1/2 each, 4 KiB
    ///   at a random page of the block.
    ///
    /// 6,000 operations (1,200 per region); the last at 599.9 s.
    @Sendable static func movingLocality(seed: UInt64) -> Scenario {
        let regions = [nyc, london, tokyo, sydney, saopaulo]
        let data = volume("data", blocks: 1000, home: nyc)
        let blocks = Int64(data.blockCount)
        let endUs: UInt64 = 600_000_000
        let sigmaBlocks = 8.0

        var random = SeededRandom(seed: seed)
        var streams = regions.map { _ in random.fork() }
        var sources: [[TraceOp]] = []
        for (index, region) in regions.enumerated() {
            let client = "\(region)-client"
            var ops: [TraceOp] = []
            for tUs in stride(from: UInt64(index) * 100_000, to: endUs, by: 500_000) {
                let centre = Int64(200 * index) + Int64(tUs / 2_000_000)
                let offset = Int64((sigmaBlocks * standardNormal(&streams[index])).rounded())
                let block = UInt64(((centre + offset) % blocks + blocks) % blocks)
                let kind: OpKind = chance(0.5, &streams[index]) ? .write : .read
                ops.append(pageAccess(tUs, region, client, kind, data, block: block, random: &streams[index]))
            }
            sources.append(ops)
        }
        return scenario(
            "moving-locality", regions: regions, hiveRegion: nyc, volumes: [data], trace: mergedByTime(sources))
    }
}
