// `lis demo`: a three-region cluster on this machine, a scenario driven through a real NBD
// client, and the timeline the client measured.

import ArgumentParser
import Foundation
import LisCore
import LisHTTP
import LisSim


struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a three-region cluster on this machine and watch blocks follow their user.",
        discussion: """
            Starts etcd (Debian's etcd-server) and three nodes, nyc-1, london-1 and sydney-1, as \
            child processes on loopback, with the round trips of topology/regions.toml emulated \
            between them (nyc–sydney about 200 ms). Creates the scenario's volume homed in New \
            York, then replays the scenario's student's writes, as a real NBD client (libnbd's \
            Python binding), through Sydney's NBD socket, with the scenario's gaps between writes \
            divided by --speed. Prints what the client measured: write latency before and after \
            each block moved, steal durations, the moves and their reasons. Ctrl-C stops every \
            child process.

            Needs: etcd (apt-get install etcd-server) and python3-libnbd.
            """
    )

    @Option(help: "The scenario: sydney-student (a student in Sydney edits a document on a disk homed in New York).")
    var scenario: String = "sydney-student"

    @Option(help: "The scenario's seed (which blocks the document is on).")
    var seed: UInt64 = 1

    @Option(help: "The nodes' migration policy: tiers, adaptive, crdb-ftw, wpaxos-consecutive, wpaxos-majority or static.")
    var policy: String = "tiers"

    @Option(help: "Divide the scenario's time by this (20: its 10 minutes in 30 s, plus the waits for remote writes).")
    var speed: Double = 20

    @Option(help: "Keep the cluster's files (configs, logs, data) here instead of a temporary directory.")
    var dir: String?

    @Flag(help: "Print the report as JSON (the simulator report's fields, with \"measured\": \"client\").")
    var json = false

    func validate() throws {
        guard scenario == "sydney-student" else {
            throw ValidationError("--scenario: only sydney-student is a demo so far")
        }
        guard PolicyName(rawValue: policy) != nil, policy != "oracle" else {
            throw ValidationError("--policy must be one of tiers, adaptive, crdb-ftw, wpaxos-consecutive, wpaxos-majority, static")
        }
        guard speed > 0, speed.isFinite else { throw ValidationError("--speed must be a number above 0") }
    }

    func run() async throws {
        let etcd = try DemoTools.find("etcd", hint: "lis demo needs etcd: apt-get install etcd-server")
        let python = try DemoTools.pythonWithLibnbd()
        guard let built = Scenario.builtIn(scenario, seed: seed), let volume = built.volumes.first else {
            throw ValidationError("unknown scenario \(scenario)")
        }
        let work = try dir.map { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return path
        } ?? DemoTools.temporaryDirectory()
        let cluster = DemoCluster(directory: work, keep: dir != nil, log: { message in
            FileHandle.standardError.write(Data((message + "\n").utf8))
        })
        DemoTools.onInterrupt { cluster.stop() }
        defer { cluster.stop() }
        do {
            try await cluster.start(etcd: etcd, topology: built.topologyTOML, policy: policy)
            let report = try await drive(built, volume: volume, cluster: cluster, python: python)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.nonConformingFloatEncodingStrategy = .convertToString(
                    positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.text)
            }
        } catch let error as DemoError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            if dir == nil { FileHandle.standardError.write(Data("(the cluster's logs: rerun with --dir DIR to keep them)\n".utf8)) }
            throw ExitCode.failure
        }
    }

    /// Creates the volume, replays the student through Sydney, and reads the moves back.
    func drive(_ built: Scenario, volume: VolumeSpec, cluster: DemoCluster, python: String) async throws -> DemoReport {
        cluster.log("creating volume \(volume.name) (\(ByteSize.format(volume.sizeBytes)), blocks of \(ByteSize.format(volume.blockSizeBytes))) homed in nyc")
        let create = CreateVolumeRequest(
            name: volume.name.name, size: .bytes(volume.sizeBytes), block_size: .bytes(volume.blockSizeBytes), home: "nyc",
            survive: volume.survive.rawValue, allowed_regions: nil)
        _ = try await cluster.api("nyc-1").send("POST", "/v1/volumes", body: create, expecting: VolumeInfo.self)
        try await cluster.waitForVolume(volume.name.name, on: "sydney-1")

        // The student's writes, at the scenario's times (its region is drawn per seed; here the
        // student sits in Sydney). Its reads of the operating system's blocks, which stay in
        // New York under every policy, would only add a WAN round trip each to the wait.
        let student = built.trace.filter { $0.client == "student" && $0.op == .write }
        let opsPath = cluster.directory + "/student-ops.jsonl"
        var lines = ""
        for op in student {
            lines += #"{"t_ms":\#(op.tMs),"op":"\#(op.op == .write ? "write" : "read")","offset":\#(op.offset),"length":\#(op.length)}"# + "\n"
        }
        try lines.write(toFile: opsPath, atomically: true, encoding: .utf8)
        let outPath = cluster.directory + "/student-measured.jsonl"
        cluster.log(
            "replaying the student's \(student.count) writes through Sydney's NBD socket with libnbd "
                + "(\(Int(((student.last?.tMs ?? 0) - (student.first?.tMs ?? 0)) / 1000 / speed)) s at --speed \(DemoTools.fmt(speed)))")
        let started = Date()
        try cluster.runClient(
            python: python, arguments: [cluster.socket("sydney-1"), volume.name.name, opsPath, outPath, String(speed)])
        let wallSeconds = Date().timeIntervalSince(started)
        let measured = try DemoTools.readMeasured(outPath)
        let moves = try await cluster.api("sydney-1").send("GET", "/v1/moves", expecting: [MoveInfo].self)
        let members = try await cluster.api("sydney-1").send("GET", "/v1/cluster", expecting: ClusterInfo.self).members
        var report = DemoReport(
            scenario: scenario, seed: seed, policy: policy, speed: speed, volume: volume, measured: measured, moves: moves,
            regionOf: Dictionary(uniqueKeysWithValues: members.map { ($0.node_id, $0.region) }), wallSeconds: wallSeconds)
        cluster.log("running the same writes in the simulator")
        report.simulated = DemoReport.Simulated(simulate(built, student: student))
        return report
    }

    /// The writes the client replayed, in the simulator: from Sydney, at the times the client
    /// was asked to make them (the scenario's, divided by --speed), on the demo's three regions
    /// of one node with Hive in New York and the nodes' policy. The cluster and the simulator
    /// should agree on what moves and how long a steal takes.
    func simulate(_ built: Scenario, student: [TraceOp]) -> SimReport {
        let sydney = RegionID("sydney")
        let first = student.first?.tMs ?? 0
        let trace = student.map { op -> TraceOp in
            var replayed = op
            replayed.region = sydney
            // Whole microseconds, as every trace keeps its times.
            replayed.tMs = (((op.tMs - first) / speed) * 1000).rounded() / 1000
            return replayed
        }
        var policyConfig = PolicyConfig()
        policyConfig.name = PolicyName(rawValue: policy) ?? .tiers
        let scenario = Scenario(
            name: built.name + " (as the demo replays it)", topology: built.topology, topologyTOML: built.topologyTOML,
            regions: DemoCluster.nodes.map { RegionID($0.1) }, nodesPerRegion: 1, hiveRegion: RegionID("nyc"),
            volumes: built.volumes, policy: policyConfig, trace: trace)
        return Simulation(scenario: scenario, seed: seed).run()
    }
}

struct DemoError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// The demo's child processes: etcd and the three nodes, their ports and files.
final class DemoCluster: @unchecked Sendable {
    let directory: String
    let keep: Bool
    let log: @Sendable (String) -> Void
    static let nodes = [("nyc-1", "nyc"), ("london-1", "london"), ("sydney-1", "sydney")]
    private let lock = NSLock()
    private var children: [Process] = []
    private var stopped = false
    private(set) var apiPorts: [String: Int] = [:]

    init(directory: String, keep: Bool, log: @escaping @Sendable (String) -> Void) {
        self.directory = directory
        self.keep = keep
        self.log = log
    }

    func socket(_ node: String) -> String { directory + "/" + node + "/nbd.sock" }
    func api(_ node: String) -> APIClient { APIClient(baseURL: "http://127.0.0.1:\(apiPorts[node] ?? 0)", timeoutSeconds: 30) }

    func start(etcd: String, topology: String, policy: String) async throws {
        let clientPort = try DemoTools.freePort()
        let peerPort = try DemoTools.freePort()
        let endpoint = "http://127.0.0.1:\(clientPort)"
        log("starting etcd on \(endpoint) (data in \(directory)/etcd)")
        try spawn(
            etcd,
            [
                "--name", "lis-demo", "--data-dir", directory + "/etcd", "--listen-client-urls", endpoint,
                "--advertise-client-urls", endpoint, "--listen-peer-urls", "http://127.0.0.1:\(peerPort)",
                "--initial-advertise-peer-urls", "http://127.0.0.1:\(peerPort)",
                "--initial-cluster", "lis-demo=http://127.0.0.1:\(peerPort)",
            ], log: "etcd.log")
        try await DemoTools.waitFor(seconds: 20, what: "etcd to answer on \(endpoint) (see \(directory)/etcd.log)") {
            await DemoTools.post(endpoint + "/v3/kv/range", body: #"{"key":"AA=="}"#)
        }
        try topology.write(toFile: directory + "/regions.toml", atomically: true, encoding: .utf8)
        var random = SystemRandomNumberGenerator()
        let secret = Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }).base64EncodedString()
        try secret.write(toFile: directory + "/join.secret", atomically: true, encoding: .utf8)
        let lis = DemoTools.ownExecutable()
        for (node, region) in Self.nodes {
            let api = try DemoTools.freePort()
            apiPorts[node] = api
            let config = """
                [node]
                id = "\(node)"
                region = "\(region)"
                data_dir = "\(directory)/\(node)"
                http_address = "127.0.0.1:\(api)"
                nbd_address = "127.0.0.1:\(try DemoTools.freePort())"
                [hive]
                engine = "etcd"
                endpoints = ["\(endpoint)"]
                prefix = "/lis-demo/"
                [cluster]
                name = "demo"
                peer_address = "127.0.0.1:\(try DemoTools.freePort())"
                secret_file = "\(directory)/join.secret"
                [wan]
                topology = "\(directory)/regions.toml"
                hive_region = "nyc"
                [policy]
                name = "\(policy)"

                """
            try config.write(toFile: "\(directory)/\(node).toml", atomically: true, encoding: .utf8)
            log("starting \(node) in \(region) (API on 127.0.0.1:\(api), log \(directory)/\(node).log)")
            try spawn(lis, ["serve", "--config", "\(directory)/\(node).toml"], log: "\(node).log")
            // One at a time, in this order: nyc-1 joins first and stays nyc's home node.
            do {
                try await DemoTools.waitFor(seconds: 60, what: "\(node) to serve (see \(directory)/\(node).log)") {
                    await DemoTools.get("http://127.0.0.1:\(api)/v1/status")
                        && FileManager.default.fileExists(atPath: self.socket(node))
                }
            } catch {
                // The log goes with the files unless kept: say why here.
                let log = (try? String(contentsOfFile: "\(directory)/\(node).log", encoding: .utf8)) ?? ""
                let tail = log.split(separator: "\n").suffix(12).joined(separator: "\n")
                throw DemoError("\((error as? DemoError)?.message ?? "\(error)")\n\(node)'s log ends:\n\(tail)")
            }
        }
        // Every node knows every other (they read Hive's members each second).
        try await DemoTools.waitFor(seconds: 20, what: "the nodes to find each other") {
            for (node, _) in Self.nodes {
                guard let info = try? await self.api(node).send("GET", "/v1/cluster", expecting: ClusterInfo.self),
                    info.members.count == Self.nodes.count
                else { return false }
            }
            return true
        }
        log("cluster up: 3 regions, Hive in etcd, WAN emulated")
    }

    func waitForVolume(_ name: String, on node: String) async throws {
        try await DemoTools.waitFor(seconds: 20, what: "\(node) to see volume \(name)") {
            await DemoTools.get("http://127.0.0.1:\(self.apiPorts[node] ?? 0)/v1/volumes/\(name)")
        }
    }

    /// Runs the NBD client to its end; its progress lines go to stderr as it prints them. A
    /// child like the others: stopping the demo stops it first.
    func runClient(python: String, arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", DemoTools.clientScript] + arguments
        process.standardOutput = FileHandle.standardError
        process.standardError = FileHandle.standardError
        try lock.withLock {
            guard !stopped else { throw DemoError("interrupted") }
            try process.run()
            children.append(process)
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw DemoError("the NBD client failed (exit status \(process.terminationStatus)); its messages are above")
        }
    }

    private func spawn(_ executable: String, _ arguments: [String], log name: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let path = directory + "/" + name
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw DemoError("cannot create \(path)") }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try lock.withLock {
            guard !stopped else { throw DemoError("interrupted") }
            try process.run()
            children.append(process)
        }
    }

    /// Stops every child (SIGTERM, then SIGKILL after 5 s) and removes the files unless kept.
    /// Holds the lock throughout, so a second caller (Ctrl-C racing the normal end) returns
    /// only once everything is stopped and removed.
    func stop() {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return }
        stopped = true
        for process in children.reversed() where process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(5)
        for process in children {
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        if !keep { try? FileManager.default.removeItem(atPath: directory) }
    }
}
