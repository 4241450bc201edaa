import LisCore

extension BuiltInScenarios {
    /// A remote region touches a block once and never again, while the home region writes the
    /// volume steadily: moving such a block gains at most one write and makes the home's next
    /// writes to it slow, so every move here is waste. The right number of moves is 0.
    ///
    /// * Regions `nyc` and `sydney`, one node each; Hive in `nyc`.
    /// * Volume `app`, 32 blocks of 1 MiB, home `nyc`.
    /// * 0–3,600 s: `nyc-app` in `nyc` writes every 500 ms from 0 (2 writes/s, 7,200 writes),
    ///   4 KiB at a random page of a uniformly random block.
    /// * `sydney-visitor` in `sydney` writes 4 KiB once, first at a uniform time in [180, 300] s,
    ///   then again after each uniform gap of 180–300 s while before 3,600 s (11–19 writes,
    ///   about 15). Its blocks are distinct: the k-th write goes to the k-th block of a random
    ///   permutation of the 32, so no block gets a second remote write.
    @Sendable static func oneOff(seed: UInt64) -> Scenario {
        let app = volume("app", blocks: 32, home: nyc)
        let endUs: UInt64 = 3_600_000_000
        let visitGapUs: ClosedRange<UInt64> = 180_000_000...300_000_000

        var random = SeededRandom(seed: seed)
        var homeRandom = random.fork()
        var visitorRandom = random.fork()

        let homeWrites = stride(from: UInt64(0), to: endUs, by: 500_000).map { tUs in
            let block = draw(&homeRandom, below: app.blockCount)
            return pageAccess(tUs, nyc, "nyc-app", .write, app, block: block, random: &homeRandom)
        }
        // 3,600 s / 180 s bounds the visits at 19, fewer than the 32 blocks, so the
        // permutation never runs out.
        let visitBlocks = shuffled(Array(0..<app.blockCount), &visitorRandom)
        var visits: [TraceOp] = []
        var tUs = uniformUs(visitGapUs, &visitorRandom)
        while tUs < endUs {
            let block = visitBlocks[visits.count]
            visits.append(pageAccess(tUs, sydney, "sydney-visitor", .write, app, block: block, random: &visitorRandom))
            tUs += uniformUs(visitGapUs, &visitorRandom)
        }
        return scenario(
            "one-off", regions: [nyc, sydney], hiveRegion: nyc, volumes: [app],
            trace: mergedByTime([homeWrites, visits]))
    }
}
