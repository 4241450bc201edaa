import LisCore

extension BuiltInScenarios {
    /// A volume whose data must stay in Europe (`allowed_regions`) is used only from New York.
    /// Every policy that follows writers wants to move it to `nyc` and must not: the rule is
    /// enforced below the policy, so the count of blocks held outside the allowed regions
    /// must be 0 whatever the policy is.
    ///
    /// * Regions `london`, `frankfurt`, `nyc`, one node each; Hive in `london`.
    /// * Volume `eu-records`, 16 blocks of 1 MiB, home `london`, `allowed_regions` =
    ///   [`london`, `frankfurt`].
    /// * 0–600 s, client `nyc-app` in `nyc` only: a write every 200 ms from 0 (5 writes/s,
    ///   3,000) and a read every 1 s from 0 (600); each 4 KiB at a random page of a uniformly
    ///   random block. At a shared instant the write comes first.
    ///
    /// 3,600 operations; the last at 599.8 s.
    @Sendable static func pinned(seed: UInt64) -> Scenario {
        let records = volume("eu-records", blocks: 16, home: london, allowedRegions: [london, frankfurt])
        let endUs: UInt64 = 600_000_000

        var random = SeededRandom(seed: seed)
        var writeRandom = random.fork()
        var readRandom = random.fork()
        let writes = stride(from: UInt64(0), to: endUs, by: 200_000).map { tUs in
            let block = draw(&writeRandom, below: records.blockCount)
            return pageAccess(tUs, nyc, "nyc-app", .write, records, block: block, random: &writeRandom)
        }
        let reads = stride(from: UInt64(0), to: endUs, by: 1_000_000).map { tUs in
            let block = draw(&readRandom, below: records.blockCount)
            return pageAccess(tUs, nyc, "nyc-app", .read, records, block: block, random: &readRandom)
        }
        return scenario(
            "pinned", regions: [london, frankfurt, nyc], hiveRegion: london, volumes: [records],
            trace: mergedByTime([writes, reads]))
    }
}
