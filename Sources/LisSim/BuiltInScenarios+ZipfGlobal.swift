import LisCore

extension BuiltInScenarios {
    /// Many volumes with skewed popularity, used mostly from one region: a few hot blocks
    /// deserve to move to their main writer, the long tail does not repay a move. The region
    /// mix keeps some remote traffic on every hot block, so a policy must weigh, not count.
    ///
    /// * Regions `nyc`, `london`, `tokyo`, one node each; Hive in `nyc`.
    /// * Volumes `vol-00` … `vol-19`, 64 blocks of 1 MiB each, homes round-robin over the
    ///   regions (`vol-00` nyc, `vol-01` london, `vol-02` tokyo, `vol-03` nyc, …).
    /// * 0–600 s, one operation every 1/30 s (operation k at ⌊k · 10^6 / 30⌋ µs, 18,000 in
    ///   all). Each draws, in this order: a volume uniformly; a block by Zipf's law with
    ///   exponent 0.99 over the volume's 64 blocks (block k with weight 1 / (k + 1)^0.99, so
    ///   block 0 is the hottest); a region, `nyc` 70 %, `london` 20 %, `tokyo` 10 % (client
    ///   `<region>-client`); a write (60 %) or a read (40 %); a random page: 4 KiB.
    @Sendable static func zipfGlobal(seed: UInt64) -> Scenario {
        let regions = [nyc, london, tokyo]
        let volumes = (0..<20).map { index in
            volume(index < 10 ? "vol-0\(index)" : "vol-\(index)", blocks: 64, home: regions[index % regions.count])
        }
        let zipf = Zipf(count: 64, exponent: 0.99)
        let opCount: UInt64 = 18_000

        var random = SeededRandom(seed: seed)
        var ops: [TraceOp] = []
        ops.reserveCapacity(Int(opCount))
        for k in 0..<opCount {
            let tUs = k * 1_000_000 / 30
            let target = volumes[Int(draw(&random, below: UInt64(volumes.count)))]
            let block = UInt64(zipf.sample(&random))
            let mix = random.unit()
            let region = mix < 0.7 ? nyc : mix < 0.9 ? london : tokyo
            let kind: OpKind = chance(0.6, &random) ? .write : .read
            ops.append(pageAccess(tUs, region, "\(region)-client", kind, target, block: block, random: &random))
        }
        return scenario("zipf-global", regions: regions, hiveRegion: nyc, volumes: volumes, trace: ops)
    }
}
