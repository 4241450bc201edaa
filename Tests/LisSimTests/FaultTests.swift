@_spi(Simulation) import LisCore
import Testing

@testable import LisSim

/// A three-region cluster (one node each, Hive in New York) and one volume homed in New York,
/// small enough to replay one fault at a time.
enum FaultCluster {
    static let nyc = RegionID("nyc")
    static let london = RegionID("london")
    static let sydney = RegionID("sydney")
    static let volume = VolumeName("v")
    static let blockBytes: UInt64 = 64 << 10

    static func scenario(_ trace: [TraceOp], eager: Bool = false, allowedRegions: [RegionID]? = nil) -> Scenario {
        var migration = MigrationConfig()
        if eager {
            migration.explicitTiers = [MigrationTier(minFactor: 2, slowWrites: 1)]
            migration.migrationCooldownMs = 0
        }
        let spec = VolumeSpec(
            name: volume, sizeBytes: 16 * blockBytes, blockSizeBytes: blockBytes, home: nyc, allowedRegions: allowedRegions)
        return Scenario(
            name: "faults", topology: DefaultTopology.topology, topologyTOML: DefaultTopology.toml,
            regions: [nyc, london, sydney], nodesPerRegion: 1, hiveRegion: nyc, volumes: [spec], migration: migration,
            trace: trace.sorted { $0.tMs < $1.tMs })
    }

    /// One client per region and kind of operation, every `stepMs` in `[fromMs, toMs)`.
    static func every(_ stepMs: Double, from fromMs: Double, to toMs: Double, _ region: RegionID, _ op: OpKind, block: UInt64 = 0) -> [TraceOp] {
        stride(from: fromMs, to: toMs, by: stepMs).map { t in
            TraceOp(
                tMs: t, region: region, client: "\(region)-\(op.rawValue)", op: op, volume: volume,
                offset: op == .flush ? 0 : block * blockBytes, length: op == .flush ? 0 : 4096)
        }
    }

    static func run(_ scenario: Scenario, plan: FaultPlan, stopAtMs: Double, seed: UInt64 = 1) -> (Simulation, SimReport, [String]) {
        let simulation = Simulation(scenario: scenario, seed: seed, faults: plan)
        simulation.stopAtMs = stopAtMs
        simulation.recordsHistory = true
        var lines: [String] = []
        simulation.traceSink = { lines.append($0) }
        let report = simulation.run()
        return (simulation, report, lines)
    }
}

/// A trace line of a peer message received: when, by whom, from whom.
struct Delivery {
    var us: Int64
    var to: String
    var from: String
    var hlc: (physical: Int64, logical: Int64)

    init?(_ line: String) {
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, parts[2].hasPrefix("peer(LisCore.PeerEnvelope(from: "), let us = Int64(parts[0]) else { return nil }
        let rest = parts[2].dropFirst("peer(LisCore.PeerEnvelope(from: ".count)
        guard let comma = rest.firstIndex(of: ","), let hlcStart = rest.range(of: "hlc: ")?.upperBound else { return nil }
        let hlcText = rest[hlcStart...].prefix { $0 != "," }.split(separator: ".")
        guard hlcText.count == 2, let p = Int64(hlcText[0]), let l = Int64(hlcText[1]) else { return nil }
        self.us = us
        to = String(parts[1])
        from = String(rest[..<comma])
        hlc = (p, l)
    }
}

@Suite struct FaultTests {
    typealias C = FaultCluster

    @Test func totalLossBetweenTwoRegionsDeliversNothingAcross() {
        let trace = C.every(100, from: 50, to: 5000, C.sydney, .write) + C.every(100, from: 80, to: 5000, C.nyc, .write, block: 1)
        var plan = FaultPlan(safetyEndMs: 2000)
        plan.loss = FaultPlan.MessageFault(
            window: .init(startMs: 0, endMs: 2000), probability: 1, betweenRegions: [C.nyc, C.sydney])
        let (_, report, lines) = C.run(C.scenario(trace), plan: plan, stopAtMs: 8000)
        let across = lines.compactMap(Delivery.init).filter { d in
            Set([d.to.prefix(3), d.from.prefix(3)]) == Set(["nyc", "syd"])
        }
        #expect((report.faults[.loss] ?? 0) > 10, "messages between New York and Sydney were dropped")
        #expect(across.allSatisfy { $0.us >= 2_000_000 }, "nothing crossed before the window closed: \(across.first.map { "\($0.us)" } ?? "")")
        #expect(across.count > 10, "after the window, messages cross again")
        #expect(!lines.contains { $0.contains("fault loss london") || $0.contains("→london") }, "London's links are not in the fault's scope")
    }

    @Test func crashKeepsSyncedAndDurableEntriesAndRecoveryDropsATornOne() {
        let key = BlockKey(C.volume, BlockID(0))
        func position(_ v: UInt64) -> LogPosition { LogPosition(epoch: .zero, version: v) }
        var base = SimStorage()
        for v in 1...2 as ClosedRange<UInt64> { base.write(key, position(v), tag: v, offset: 0, length: 4096) }
        let mark = base.syncMark
        // Stored after the sync started: not covered by it.
        base.write(key, position(3), tag: 3, offset: 0, length: 4096)
        base.synced(upTo: mark)
        for v in 4...6 as ClosedRange<UInt64> { base.write(key, position(v), tag: v, offset: 0, length: 4096) }

        var outcomes: Set<String> = []
        for seed in 1...200 as ClosedRange<UInt64> {
            var random = SeededRandom(seed: seed)
            var storage = base
            let damage = storage.crash(losesUnsynced: true, tears: true, random: &random)
            let log = storage.logs[key]!
            #expect(log.map(\.tag).starts(with: [1, 2]), "synced entries survive")
            #expect(log.map(\.tag) == Array(1...UInt64(log.count)), "what survives is a prefix")
            if let torn = log.last?.tornBytes {
                #expect(damage.first?.torn == true)
                #expect(torn % 512 == 0 && torn < 4096)
                outcomes.insert("torn")
            } else {
                outcomes.insert(damage.isEmpty ? "intact" : "lost")
            }
            #expect(damage.first.map { $0.lost.map(\.tag) == Array(UInt64(log.count - (damage[0].torn ? 1 : 0) + 1)...6) } ?? (log.count == 6))
            let recovered = storage.recover()
            #expect(storage.logs[key]!.allSatisfy { $0.tornBytes == nil }, "recovery drops the torn entry")
            #expect(recovered[key] == storage.logs[key]!.last?.position)
        }
        #expect(outcomes == ["torn", "lost", "intact"])

        // A FUA write syncs everything before it; a process crash keeps the page cache.
        var fua = base
        fua.write(key, position(7), tag: 7, offset: 0, length: 4096, durable: true)
        var random = SeededRandom(seed: 9)
        #expect(fua.crash(losesUnsynced: true, tears: true, random: &random).isEmpty)
        var process = base
        #expect(process.crash(losesUnsynced: false, tears: false, random: &random).isEmpty)
        #expect(process.logs[key]!.count == 6)
    }

    @Test func aCrashFailsItsClientsAndTheNodeServesAfterRestart() {
        let trace = C.every(50, from: 10, to: 6000, C.london, .write, block: 2)
        var plan = FaultPlan(safetyEndMs: 8000)
        plan.crashes = [FaultPlan.Crash(nodes: [NodeID("london-1")], window: .init(startMs: 1000, endMs: 3000))]
        plan.crashLosesUnsynced = true
        // London may not hold the block, so its writes are forwarded and some are in flight.
        let (simulation, report, lines) = C.run(C.scenario(trace, allowedRegions: [C.nyc, C.sydney]), plan: plan, stopAtMs: 10_000)
        #expect(report.faults[.crash] == 1)
        #expect(lines.contains { $0.hasPrefix("1000000 fault crash london-1") })
        #expect(lines.contains { $0.hasPrefix("3000000 fault restart london-1") })
        var outcome: [String: HistoryEvent.Kind] = [:]
        for event in simulation.history where event.kind != .invoke { outcome[event.process] = event.kind }
        func kind(_ index: Int) -> HistoryEvent.Kind? { outcome["london-write#\(index)"] }
        // A forward to New York and back takes about 80 ms: those issued since 930 ms were pending.
        let down = trace.indices.filter { trace[$0].tMs > 930 && trace[$0].tMs < 3000 }
        let after = trace.indices.filter { trace[$0].tMs > 4000 }
        #expect(down.allSatisfy { kind($0) == .info }, "operations sent to a crashed node fail (outcome unknown)")
        #expect(after.allSatisfy { kind($0) == .ok }, "the restarted node serves again")
        #expect(report.violations.isEmpty, "\(report.violations.prefix(3))")
    }

    @Test func anUnflushedWriteLostInACrashIsExcusedAndAFlushedOneIsDurable() {
        // New York's own writes: its node holds the block, so a crash there loses what it did
        // not sync. Without a flush some seed loses them; with a flush before the crash none does.
        let writes = C.every(100, from: 100, to: 400, C.nyc, .write) + C.every(100, from: 600, to: 3000, C.nyc, .read)
        var plan = FaultPlan(safetyEndMs: 2000)
        plan.crashes = [FaultPlan.Crash(nodes: [NodeID("nyc-1")], window: .init(startMs: 500, endMs: 1000))]
        plan.crashLosesUnsynced = true
        var tainted = 0
        for seed in 1...20 as ClosedRange<UInt64> {
            let (simulation, report, _) = C.run(C.scenario(writes), plan: plan, stopAtMs: 3000, seed: seed)
            #expect(report.violations.isEmpty, "seed \(seed): \(report.violations.prefix(3))")
            if report.taintedBlocks > 0 {
                tainted += 1
                #expect(report.faults[.unsyncedLoss] == 1)
                #expect(simulation.checkableHistory().count < simulation.history.count, "the block's history is cut at the crash")
            }
        }
        #expect(tainted > 0, "some seed lost an unsynced write")
        let flushed = writes + C.every(1000, from: 450, to: 451, C.nyc, .flush)
        for seed in 1...20 as ClosedRange<UInt64> {
            let (_, report, _) = C.run(C.scenario(flushed), plan: plan, stopAtMs: 3000, seed: seed)
            #expect(report.faults[.unsyncedLoss, default: 0] == 0, "seed \(seed): the flush made every write durable")
            #expect(report.violations.isEmpty)
        }
    }

    @Test func aCloggedNodesMessagesArriveWhenItIsUnclogged() {
        let trace = C.every(1000, from: 1500, to: 1501, C.sydney, .write)
        var plan = FaultPlan(safetyEndMs: 3000)
        plan.clogs = [FaultPlan.Clog(node: NodeID("sydney-1"), window: .init(startMs: 1000, endMs: 3000))]
        let (simulation, report, lines) = C.run(C.scenario(trace), plan: plan, stopAtMs: 6000)
        let forwards = lines.filter { $0.contains(" nyc-1 peer(") && $0.contains("from: sydney-1") && $0.contains(".forward(") }
        // The origin resends after its forward timeout (2 × RTT + 1 s); every copy waits.
        #expect((1...2).contains(forwards.count))
        #expect(forwards.allSatisfy { Int64($0.prefix { $0 != " " })! >= 3_000_000 }, "held until the unclog, not dropped: \(forwards)")
        #expect(report.faults[.swizzleClog] == 1)
        #expect(simulation.history.last?.kind == .ok, "the write completes")
        #expect(!lines.contains { $0.contains("fault loss") })
    }

    @Test func aBackwardClockJumpNeverMakesTheHLCGoBack() {
        let trace = C.every(20, from: 10, to: 6000, C.london, .write) + C.every(35, from: 10, to: 6000, C.london, .read, block: 1)
        var plan = FaultPlan(safetyEndMs: 6000)
        plan.clockJumps = [
            FaultPlan.ClockJump(node: NodeID("london-1"), atMs: 2000, deltaMs: -5000),
            FaultPlan.ClockJump(node: NodeID("london-1"), atMs: 4000, deltaMs: 1500),
        ]
        plan.clockDrift = [NodeID("london-1"): -0.01]
        let (_, report, lines) = C.run(C.scenario(trace), plan: plan, stopAtMs: 7000)
        #expect(lines.contains { $0.hasPrefix("2000000 fault clock-jump london-1 -5000.0 ms → wall -3020") })
        // One link is FIFO, so its arrivals are in send order: the HLC must rise strictly.
        let sent = lines.compactMap(Delivery.init).filter { $0.from == "london-1" && $0.to == "nyc-1" }
        #expect(sent.count > 100)
        #expect(sent.contains { $0.us > 2_100_000 }, "messages after the jump")
        let rising = zip(sent, sent.dropFirst()).allSatisfy { a, b in (a.hlc.physical, a.hlc.logical) < (b.hlc.physical, b.hlc.logical) }
        #expect(rising)
        #expect(report.faults[.clockJump] == 2 && report.faults[.clockDrift] == 1)
        #expect(report.violations.isEmpty, "\(report.violations.prefix(3))")
    }

    @Test func duringAHiveOutageCallsFailAndNoCompareAndSetApplies() {
        let trace = C.every(100, from: 100, to: 3500, C.sydney, .write)
        var plan = FaultPlan(safetyEndMs: 4000)
        plan.hiveOutages = [.init(startMs: 0, endMs: 4000)]
        let (simulation, report, lines) = C.run(C.scenario(trace, eager: true), plan: plan, stopAtMs: 4000)
        let unavailable = lines.filter { $0.contains("sydney-1 hive(") && $0.contains("unavailable") && $0.contains("hive unreachable") }
        #expect(unavailable.count > 0)
        #expect(!lines.contains { $0.contains("HiveResponse.swapped") || $0.contains("HiveResponse.record") })
        #expect(simulation.hiveRecords.isEmpty, "no compare-and-set was applied")
        #expect(report.abandonedSteals > 0 && report.moves.isEmpty)
        #expect(report.faults[.hiveOutage] == 1)

        // The same workload once Hive is back: the block moves to Sydney.
        let (_, later, _) = C.run(C.scenario(trace + C.every(100, from: 4100, to: 6000, C.sydney, .write), eager: true), plan: plan, stopAtMs: 8000)
        #expect(!later.moves.isEmpty && later.moves.allSatisfy { $0.tMs > 4000 })
    }

    @Test func theSameSeedAndPlanGiveTheSameDigest() {
        let scenario = Swarm.scenario(seed: 5)
        func digest(planSeed: UInt64) -> (String, [String]) {
            let plan = FaultPlan.draw(seed: planSeed, scenario: scenario, safetyEndMs: Swarm.safetyEndMs)
            let (_, report, lines) = C.run(scenario, plan: plan, stopAtMs: 20_000, seed: 5)
            return (report.digest, lines)
        }
        let (a, linesA) = digest(planSeed: 11)
        let (b, linesB) = digest(planSeed: 11)
        let (c, _) = digest(planSeed: 12)
        #expect(linesA.count > 1000)
        #expect(linesA == linesB, "byte-identical event trace")
        #expect(a == b)
        #expect(a != c, "another plan, another run")
        #expect(linesA.contains { $0.contains(" fault ") })
    }

    @Test func drawnPlansStayInsideTheSafetyPhase() {
        var seen: Set<FaultKind> = []
        for seed in 1...300 as ClosedRange<UInt64> {
            let scenario = Swarm.scenario(seed: seed)
            let plan = FaultPlan.draw(seed: seed, scenario: scenario, safetyEndMs: 8000)
            #expect(plan == FaultPlan.draw(seed: seed, scenario: scenario, safetyEndMs: 8000))
            var windows = [plan.loss, plan.duplicate, plan.reorder, plan.delaySpike].compactMap { $0?.window }
            windows += plan.partitions.map(\.window) + plan.clogs.map(\.window) + plan.crashes.map(\.window) + plan.hiveOutages
            #expect(windows.allSatisfy { $0.startMs >= 0 && $0.startMs < $0.endMs && $0.endMs <= 8000 })
            #expect(plan.clockJumps.allSatisfy { (100...5000).contains(abs($0.deltaMs)) && $0.atMs <= 8000 })
            #expect(plan.clockDrift.values.allSatisfy { abs($0) <= 0.01 })
            if plan.loss != nil { seen.insert(.loss) }
            if !plan.clogs.isEmpty { seen.insert(.swizzleClog) }
            if plan.crashes.contains(where: { $0.region != nil }) { seen.insert(.regionDown) }
            for p in plan.partitions { seen.insert(p.kind) }
        }
        #expect(seen == [.loss, .swizzleClog, .regionDown, .partition, .asymmetricPartition, .regionCut])
    }
}
