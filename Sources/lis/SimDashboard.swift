// `lis sim run --serve`: a simulated run played against a virtual clock that follows the wall
// clock at a speed the page can change, with the node's dashboard watching it.

import ArgumentParser
import Foundation
import Hummingbird
import LisCore
import LisHTTP
import LisSim
import Logging
import ServiceLifecycle
import Synchronization

/// What the dashboard reads of a simulated run. The run's own thread writes it (through
/// `SimWatcher`); the HTTP server reads it; a lock keeps the two apart.
final class SimDashboard: DashboardSource, Sendable {
    struct State {
        var log: ActivityLog
        var nowMs: Int64 = 0
        var speed: Double
        var paused = false
        var finished = false
        var holders: [String: [UInt64: String]] = [:]
    }

    let state: Mutex<State>
    let feed = DecisionFeed()
    let title: String
    let policy: String
    let regions: [Overview.Region]
    let volumes: [VolumeInfo]
    let endMs: Int64
    var tickSeconds: Double { 0.5 }

    init(simulation: Simulation, speed: Double) {
        let scenario = simulation.scenario
        let map = simulation.clusterMap
        endMs = Int64(simulation.deadline.ms)
        // About 400 columns over the run, in whole seconds.
        let columnMs = max(1_000, (endMs / 400 + 999) / 1_000 * 1_000)
        state = Mutex(State(log: ActivityLog(columnMs: columnMs, keepColumns: Int64.max / 2), speed: speed))
        title = "simulation of \(scenario.name), seed \(simulation.seed)"
        policy = scenario.policy.name.rawValue
        regions = map.regions.map { region in
            Overview.Region(
                name: region.name, nodes: map.nodes(in: region).map(\.name),
                rtt_ms: Dictionary(
                    uniqueKeysWithValues: map.regions.filter { $0 != region }.map { ($0.name, scenario.topology.rttMs(region, $0)) }))
        }
        volumes = scenario.volumes.map(VolumeInfo.init)
    }

    func dashboardState() async throws(APIError) -> DashboardState {
        let s = state.withLock { ($0.nowMs, $0.speed, $0.paused, $0.finished, $0.holders) }
        return DashboardState(
            kind: "simulation", title: title, nowMs: s.0, policy: policy, paused: false, regions: regions,
            hive: Overview.Hive(engine: "simulated", ok: true, rtt_ms: nil, error: nil), volumes: volumes, holders: s.4,
            clock: ClockInfo(speed: s.1, paused: s.2, end_ms: endMs, finished: s.3), defaultWindowMs: max(endMs, 1))
    }

    func activity(sinceMs: Int64, untilMs: Int64) async throws(APIError) -> ActivitySnapshot {
        await localActivity(sinceMs: sinceMs, untilMs: untilMs)
    }

    func localActivity(sinceMs: Int64, untilMs: Int64) async -> ActivitySnapshot {
        state.withLock { $0.log.snapshot(sinceMs: sinceMs, untilMs: untilMs) }
    }

    func nowMs() async -> Int64 { state.withLock { $0.nowMs } }

    func setClock(_ request: SetClockRequest) async throws(APIError) -> ClockInfo {
        state.withLock { s in
            if let speed = request.speed { s.speed = speed }
            if let paused = request.paused { s.paused = paused }
            return ClockInfo(speed: s.speed, paused: s.paused, end_ms: endMs, finished: s.finished)
        }
    }

    func decisions() -> AsyncStream<Decision> { feed.subscribe() }

    /// Plays the run on the calling thread: each step processes what the virtual clock reached
    /// since the last, at the speed the page set. Returns the report when the run ends.
    func play(_ simulation: Simulation) -> SimReport {
        let watcher = SimWatcher(dashboard: self, map: simulation.clusterMap)
        simulation.observer = watcher
        simulation.begin()
        var virtual = 0.0
        var last = Date()
        var lastHolders = Date.distantPast
        while true {
            let (speed, paused) = state.withLock { ($0.speed, $0.paused) }
            let now = Date()
            if !paused { virtual += now.timeIntervalSince(last) * 1000 * speed }
            last = now
            let more = simulation.advance(until: Instant.ms(virtual))
            if now.timeIntervalSince(lastHolders) > 0.25 || !more {
                lastHolders = now
                publishHolders(simulation)
            }
            let reached = Int64(min(virtual, simulation.deadline.ms))
            state.withLock { $0.nowMs = max($0.nowMs, reached) }
            if !more { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        let report = simulation.finish()
        state.withLock { $0.finished = true }
        return report
    }

    private func publishHolders(_ simulation: Simulation) {
        let map = simulation.clusterMap
        var holders: [String: [UInt64: String]] = [:]
        for (key, node) in simulation.leaseHolders {
            holders[key.volume.name, default: [:]][key.block.index] = map.region(of: node)?.name ?? node.name
        }
        state.withLock { $0.holders = holders }
    }
}

/// Records what the run's clients and nodes do into the dashboard's activity log.
final class SimWatcher: SimulationObserver {
    let dashboard: SimDashboard
    let map: ClusterMap

    init(dashboard: SimDashboard, map: ClusterMap) {
        self.dashboard = dashboard
        self.map = map
    }

    func answered(_ op: TraceOp, node: NodeID, blocks: ClosedRange<UInt64>?, latencyMs: Double, failed: Bool, atMs: Double) {
        guard !failed else { return }
        let kind: ActivityLog.Operation = op.op == .read ? .read : op.op == .write ? .write : .flush
        dashboard.state.withLock {
            $0.log.record(
                kind, volume: op.volume.name, blocks: blocks, bytes: op.length, latencyMs: latencyMs, region: op.region.name,
                node: node.name, atMs: Int64(atMs))
        }
    }

    func event(_ event: NodeEvent, node: NodeID, region: RegionID, atMs: Double) {
        let map = self.map
        guard let decision = Decision(event, node: node, region: region, atMs: Int64(atMs), regionOf: { map.region(of: $0) }) else {
            return
        }
        dashboard.state.withLock { $0.log.record(decision) }
        if decision.kind != .declined { dashboard.feed.publish(decision) }
    }
}

extension SimRun {
    /// Serves the dashboard on `address` while the run plays, and on after it ends until
    /// interrupted.
    func serve(_ simulation: Simulation, address: String) async throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw ValidationError("--serve takes HOST:PORT, such as 127.0.0.1:7790; got \(address)")
        }
        let host = String(address[..<colon])
        guard AccessPolicy.isLoopback(host: host) else {
            throw ValidationError("--serve binds to loopback only (a simulated run has no cluster token); use 127.0.0.1:PORT")
        }
        let duration = max(simulation.deadline.ms, 1)
        // By default the run plays in about two minutes.
        let dashboard = SimDashboard(simulation: simulation, speed: speed ?? max(1, (duration / 120_000).rounded()))
        var logger = Logger(label: "lis.sim")
        logger.logLevel = .notice
        let app = Application(
            router: LisHTTPRoutes.router(dashboard: dashboard, access: AccessPolicy(token: nil, loopback: true)),
            configuration: .init(address: .hostname(host, port: port), serverName: "lis-sim"), logger: logger)
        let json = self.json
        let explainKey = self.explainKey
        // The run is this thread's alone from here on: nothing else touches the simulation.
        nonisolated(unsafe) let run = simulation
        let player = Thread {
            let report = dashboard.play(run)
            print(json ? report.json() : report.summary(), terminator: json ? "\n" : "")
            if let key = explainKey, !json { print(report.explained(key)) }
            fflush(nil)  // every output stream: the report goes out now, not at exit
            FileHandle.standardError.write(Data("the run ended; the dashboard stays up until Ctrl-C\n".utf8))
        }
        player.stackSize = 64 << 20
        FileHandle.standardError.write(
            Data("dashboard of the run on http://\(address)/ (virtual clock at \(dashboard.state.withLock { $0.speed })× wall time)\n".utf8))
        player.start()
        let services = ServiceGroup(
            configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await services.run()
    }
}
