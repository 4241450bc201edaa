// What `lis demo` needs around its cluster: finding tools, ports and files, the NBD client it
// runs, and the report of what that client measured.

import Dispatch
import Foundation
import LisCore
import LisHTTP
import LisSim


enum DemoTools {
    static func find(_ name: String, hint: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") + ["/usr/bin", "/usr/sbin"] {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw DemoError(hint)
    }

    /// A Python that has libnbd's binding (Debian's python3-libnbd installs it for /usr/bin/python3).
    static func pythonWithLibnbd() throws -> String {
        for python in ["/usr/bin/python3", "python3"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [python, "-c", "import nbd"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            if (try? process.run()) != nil {
                process.waitUntilExit()
                if process.terminationStatus == 0 { return python }
            }
        }
        throw DemoError("lis demo drives its NBD client with libnbd's Python binding: apt-get install python3-libnbd")
    }

    static func temporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lis-demo-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func ownExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// A TCP port nothing listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DemoError("cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard bound else { throw DemoError("cannot find a free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func waitFor(seconds: Double, what: String, _ condition: @escaping () async -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DemoError("gave up after \(Int(seconds)) s waiting for \(what)")
    }

    static func get(_ url: String) async -> Bool {
        (try? await HTTPAnswer.fetch("GET", url, timeoutSeconds: 2))?.status == 200
    }

    static func post(_ url: String, body: String) async -> Bool {
        (try? await HTTPAnswer.fetch("POST", url, body: Data(body.utf8), timeoutSeconds: 2))?.status == 200
    }

    /// Ctrl-C and SIGTERM run `cleanup` (stopping the children), then end the demo.
    nonisolated(unsafe) private static var signalSources: [any DispatchSourceSignal] = []
    static func onInterrupt(_ cleanup: @escaping @Sendable () -> Void) {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                FileHandle.standardError.write(Data("\nstopping the demo's processes\n".utf8))
                cleanup()
                exit(130)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    struct Measured: Decodable {
        var op: String
        var offset: UInt64
        var length: UInt64
        var ms: Double
        var at_ms: Int64
        var t_ms: Double
    }

    static func readMeasured(_ path: String) throws -> [Measured] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DemoError("the NBD client wrote no measurements to \(path)")
        }
        let decoder = JSONDecoder()
        return try text.split(separator: "\n").map { line in
            do {
                return try decoder.decode(Measured.self, from: Data(line.utf8))
            } catch {
                throw DemoError("the NBD client wrote a line this lis cannot read: \(line)")
            }
        }
    }

    static func fmt(_ x: Double) -> String { TiersPolicy.fmt(x) }

    /// The NBD client (libnbd's Python binding): replays the operations at their scheduled
    /// times divided by the speed (an operation that would start before the previous one
    /// ended waits for it: one outstanding request, as a desktop editor's saves are), writes a
    /// pattern per operation, measures each operation's latency, prints progress each second,
    /// and at the end reads back the last write to every offset it wrote and checks its pattern.
    static let clientScript = #"""
        import json, sys, time
        import nbd
        sock, export, ops_path, out_path, speed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
        ops = [json.loads(line) for line in open(ops_path)]
        h = nbd.NBD()
        h.set_export_name(export)
        h.connect_unix(sock)
        out = open(out_path, "w")
        first = ops[0]["t_ms"] if ops else 0.0
        t0 = time.monotonic()
        last_print, recent = t0, []
        written = {}
        for i, op in enumerate(ops):
            due = (op["t_ms"] - first) / 1000.0 / speed
            now = time.monotonic() - t0
            if due > now:
                time.sleep(due - now)
            start, wall = time.monotonic(), time.time()
            if op["op"] == "write":
                byte = i % 251 + 1
                h.pwrite(bytes([byte]) * op["length"], op["offset"])
                written[op["offset"]] = (op["length"], byte)
            else:
                h.pread(op["length"], op["offset"])
            ms = (time.monotonic() - start) * 1000.0
            out.write(json.dumps({"op": op["op"], "offset": op["offset"], "length": op["length"], "ms": round(ms, 3),
                                  "at_ms": int(wall * 1000), "t_ms": round((start - t0) * 1000.0, 3)}) + "\n")
            if op["op"] == "write":
                recent.append(ms)
            if time.monotonic() - last_print >= 1.0:
                mean = sum(recent) / len(recent) if recent else 0.0
                print(f"  {i + 1}/{len(ops)} operations; writes in the last second: {len(recent)}, mean {mean:.2f} ms", flush=True)
                last_print, recent = time.monotonic(), []
        h.flush()
        out.close()
        bad = 0
        for offset, (length, byte) in written.items():
            if h.pread(length, offset) != bytes([byte]) * length:
                bad += 1
        print(f"  read back the last write to each of {len(written)} offsets: {len(written) - bad} match", flush=True)
        h.shutdown()
        sys.exit(1 if bad else 0)
        """#
}

/// What the demo's client measured, in the simulator report's terms.
struct DemoReport: Encodable {
    struct RegionFigures: Encodable {
        var writes: Int
        var reads: Int
        var failed: Int
        var mean_write_ms: Double
        var p50_write_ms: Double
        var p99_write_ms: Double
        var mean_read_ms: Double
        var local_write_fraction: Double
    }
    struct Move: Encodable {
        var t_ms: Double
        var volume: String
        var block: UInt64
        var from: String
        var to: String
        var reason: String
        var steal_ms: Double
        var slow_writes_before: Int
        var mean_write_ms_before: Double
        var mean_write_ms_after: Double
    }

    var scenario: String
    var seed: UInt64
    var policy: String
    var measured = "client"
    var speed: Double
    var ops: Int
    var writes: Int
    var regions: [String: RegionFigures]
    var moves: [Move]
    var slow_writes_before_move: [String: Int]
    var wall_seconds: Double
    /// The same writes in the simulator (`Demo.simulate`).
    var simulated: Simulated?

    struct Simulated: Encodable {
        var moves: Int
        var steal_ms_min: Double
        var steal_ms_median: Double
        var steal_ms_max: Double
        var local_write_fraction: Double

        init(_ report: SimReport) {
            moves = report.moves.count
            let steals = report.moves.map(\.stealMs).sorted()
            steal_ms_min = DemoReport.round(steals.first ?? 0)
            steal_ms_median = DemoReport.round(steals.isEmpty ? 0 : steals[steals.count / 2])
            steal_ms_max = DemoReport.round(steals.last ?? 0)
            let sydney = report.regions.first { $0.region == RegionID("sydney") }
            local_write_fraction = DemoReport.round(sydney?.localWriteFraction ?? 0)
        }
    }

    init(
        scenario: String, seed: UInt64, policy: String, speed: Double, volume: VolumeSpec, measured: [DemoTools.Measured],
        moves: [MoveInfo], regionOf: [String: String], wallSeconds: Double
    ) {
        self.scenario = scenario
        self.seed = seed
        self.policy = policy
        self.speed = speed
        ops = measured.count
        let writeOps = measured.filter { $0.op == "write" }
        writes = writeOps.count
        wall_seconds = (wallSeconds * 1000).rounded() / 1000
        let start = measured.first?.at_ms ?? 0
        let moved = Dictionary(moves.map { ($0.block, $0) }, uniquingKeysWith: { first, _ in first })
        func block(_ m: DemoTools.Measured) -> UInt64 { m.offset / volume.blockSizeBytes }
        func isLocal(_ m: DemoTools.Measured) -> Bool { moved[block(m)].map { $0.at_ms <= m.at_ms } ?? false }
        let writeMs = writeOps.map(\.ms).sorted()
        let reads = measured.filter { $0.op == "read" }
        regions = [
            "sydney": RegionFigures(
                writes: writeOps.count, reads: reads.count, failed: 0, mean_write_ms: Self.round(Self.mean(writeMs)),
                p50_write_ms: Self.round(Self.percentile(writeMs, 0.5)), p99_write_ms: Self.round(Self.percentile(writeMs, 0.99)),
                mean_read_ms: Self.round(Self.mean(reads.map(\.ms))),
                local_write_fraction: writeOps.isEmpty ? 0 : Self.round(Double(writeOps.filter(isLocal).count) / Double(writeOps.count)))
        ]
        var movesOut: [Move] = []
        for move in moves.sorted(by: { $0.at_ms < $1.at_ms }) {
            let onBlock = writeOps.filter { block($0) == move.block }
            let before = onBlock.filter { $0.at_ms < move.at_ms }
            let after = onBlock.filter { $0.at_ms >= move.at_ms }
            movesOut.append(
                Move(
                    t_ms: Double(move.at_ms - start), volume: move.volume, block: move.block,
                    from: regionOf[move.from] ?? move.from, to: "sydney", reason: move.reason.text,
                    steal_ms: Self.round(move.steal_ms), slow_writes_before: before.count,
                    mean_write_ms_before: Self.round(Self.mean(before.map(\.ms))),
                    mean_write_ms_after: Self.round(Self.mean(after.map(\.ms)))))
        }
        self.moves = movesOut
        let counts = movesOut.map(\.slow_writes_before).sorted()
        slow_writes_before_move = ["p50": counts.isEmpty ? 0 : counts[counts.count / 2], "max": counts.last ?? 0]
    }

    var text: String {
        var lines: [String] = []
        let sydney = regions["sydney"]!
        lines.append(
            "lis demo: \(scenario) (seed \(seed)), policy \(policy): the student in Sydney, the disk homed in New York "
                + "(measured by the NBD client, libnbd; --speed \(DemoTools.fmt(speed)))")
        lines.append(
            "  \(writes) writes in \(DemoTools.fmt(wall_seconds)) s: mean \(DemoTools.fmt(sydney.mean_write_ms)) ms, "
                + "p50 \(DemoTools.fmt(sydney.p50_write_ms)) ms, p99 \(DemoTools.fmt(sydney.p99_write_ms)) ms; "
                + "\(DemoTools.fmt(sydney.local_write_fraction * 100)) % of writes served in Sydney")
        if moves.isEmpty {
            lines.append("  no block moved to Sydney")
        } else {
            let steals = moves.map(\.steal_ms).sorted()
            lines.append(
                "  \(moves.count) blocks moved to Sydney; steals took \(DemoTools.fmt(steals.first!))–\(DemoTools.fmt(steals.last!)) ms "
                    + "(median \(DemoTools.fmt(steals[steals.count / 2])) ms); writes before a block's move: "
                    + "median \(slow_writes_before_move["p50"]!), at most \(slow_writes_before_move["max"]!)")
            lines.append("  at       block  from    steal     writes before (mean)   after (mean)   why")
            for move in moves {
                lines.append(
                    "  " + Self.pad(DemoTools.fmt(move.t_ms / 1000) + " s", 9) + Self.pad(String(move.block), 7)
                        + Self.pad(move.from, 8) + Self.pad(DemoTools.fmt(move.steal_ms) + " ms", 10)
                        + Self.pad("\(move.slow_writes_before) (\(DemoTools.fmt(move.mean_write_ms_before)) ms)", 23)
                        + Self.pad(DemoTools.fmt(move.mean_write_ms_after) + " ms", 15) + move.reason)
            }
        }
        if let sim = simulated {
            lines.append(
                "  the simulator, on the same writes: \(sim.moves) blocks moved; steals took \(DemoTools.fmt(sim.steal_ms_min))–"
                    + "\(DemoTools.fmt(sim.steal_ms_max)) ms (median \(DemoTools.fmt(sim.steal_ms_median)) ms); "
                    + "\(DemoTools.fmt(sim.local_write_fraction * 100)) % of writes served in Sydney")
        }
        return lines.joined(separator: "\n")
    }

    static func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }
    static func mean(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
    }
    static func round(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
}
