import LisCore

extension BuiltInScenarios {
    /// A team spread over three continents shares one workspace, each part of it working its
    /// own office hours, so the workspace's writers move around the planet once a day. A
    /// time-of-day predictor can move the workspace before each region's day begins; an
    /// online policy that only follows writes pays at the start of every working day.
    ///
    /// * Regions `sydney` (UTC+10), `london` (UTC+0), `nyc` (UTC−5), one node each; Hive in
    ///   `london`; daylight saving is ignored. Simulated time 0 is 00:00 UTC.
    /// * Volumes: `workspace`, 64 blocks of 1 MiB, home `london`; and per region a private
    ///   volume `private-<region>`, 16 blocks, homed in that region.
    /// * Each region works 09:00–17:00 local time on three consecutive days: the first window
    ///   that starts at or after time 0 and the next two, 24 h apart. In UTC hours: sydney
    ///   23–31, 47–55, 71–79; london 9–17, 33–41, 57–65; nyc 14–22, 38–46, 62–70 (london's and
    ///   nyc's days overlap at 14–17 UTC, on purpose). Outside its windows a region is idle.
    /// * Within a window, client `<region>-team` issues operations as a Poisson process of
    ///   0.5 operations/s (exponential gaps, mean 2 s, the first one gap after 09:00); each is
    ///   a write (70 %) or a read (30 %) of 4 KiB at a random page of a uniformly random block
    ///   of `workspace` (half the operations) or of its own private volume (the other half).
    ///
    /// The period is 24 h; three days are generated so that a predictor has two earlier days
    /// of every region to learn from and is judged on the last. About 129,600 operations over
    /// 79 simulated hours.
    @Sendable static func followTheSun(seed: UInt64) -> Scenario {
        let workspace = volume("workspace", blocks: 64, home: london)
        let offices: [(region: RegionID, utcOffsetHours: Int)] = [(sydney, 10), (london, 0), (nyc, -5)]
        let privates = offices.map { volume("private-\($0.region)", blocks: 16, home: $0.region) }

        var random = SeededRandom(seed: seed)
        // One stream per region, so that each region's workload depends only on the seed.
        var streams = offices.map { _ in random.fork() }
        var sources: [[TraceOp]] = []
        for (index, office) in offices.enumerated() {
            let client = "\(office.region)-team"
            var ops: [TraceOp] = []
            for day in 0..<followTheSunDays {
                let window = followTheSunWindowUs(utcOffsetHours: office.utcOffsetHours, day: day)
                var tUs = window.lowerBound + exponentialGapUs(meanUs: 2_000_000, &streams[index])
                while tUs < window.upperBound {
                    let target = chance(0.5, &streams[index]) ? workspace : privates[index]
                    let kind: OpKind = chance(0.7, &streams[index]) ? .write : .read
                    let block = draw(&streams[index], below: target.blockCount)
                    ops.append(
                        pageAccess(tUs, office.region, client, kind, target, block: block, random: &streams[index]))
                    tUs += exponentialGapUs(meanUs: 2_000_000, &streams[index])
                }
            }
            sources.append(ops)
        }
        return scenario(
            "follow-the-sun", regions: offices.map(\.region), hiveRegion: london, volumes: [workspace] + privates,
            trace: mergedByTime(sources))
    }

    /// How many working days `follow-the-sun` generates per region.
    static let followTheSunDays = 3

    /// The `day`-th (from 0) 09:00–17:00 local window of a region `utcOffsetHours` east of UTC,
    /// in simulated microseconds: day 0 is the first window starting at or after time 0.
    static func followTheSunWindowUs(utcOffsetHours: Int, day: Int) -> Range<UInt64> {
        let hourUs: UInt64 = 3_600_000_000
        // 09:00 local is 9 − offset o'clock UTC, taken modulo a day to land in [0, 24).
        let firstStartHour = UInt64(((9 - utcOffsetHours) % 24 + 24) % 24)
        let startUs = (firstStartHour + 24 * UInt64(day)) * hourUs
        return startUs..<(startUs + 8 * hourUs)
    }
}
