import Foundation
import LisCore
import LisHTTP
import Logging
import NIOCore
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A source with a fixed activity log: two regions, one volume of 1,000 blocks, block 3 used
/// from sydney and moved there at 60 s.
final class FakeDashboard: DashboardSource {
    let log: ActivityLog
    let feed = DecisionFeed()
    var tickSeconds: Double { 0.2 }

    init() {
        var log = ActivityLog(columnMs: 1_000)
        for t in stride(from: Int64(0), to: 120_000, by: 500) {
            log.record(.write, volume: "vm", blocks: 3...3, bytes: 4096, latencyMs: t < 60_000 ? 230 : 0.1, region: "sydney", node: "sydney-1", atMs: t)
            log.record(.read, volume: "vm", blocks: 10...11, bytes: 8192, latencyMs: 0.05, region: "nyc", node: "nyc-1", atMs: t)
        }
        log.record(Decision(
            at_ms: 60_000, node: "sydney-1", region: "sydney", volume: "vm", block: 3, kind: .moved, from: "nyc-1", from_region: "nyc",
            to: "sydney", epoch: 2, steal_ms: 467, cause: "placement", text: "adaptive: …", reason: .requested("test")))
        log.record(Decision(at_ms: 30_000, node: "nyc-1", region: "nyc", volume: "vm", block: 10, kind: .declined, to: "sydney", text: "saves too little"))
        self.log = log
    }

    func dashboardState() async throws(APIError) -> DashboardState {
        DashboardState(
            kind: "node", title: "fake <b>cluster</b>", nowMs: 120_000, policy: "adaptive", paused: false,
            regions: [
                .init(name: "nyc", nodes: ["nyc-1"], rtt_ms: ["sydney": 229.8]), .init(name: "sydney", nodes: ["sydney-1"], rtt_ms: ["nyc": nil]),
            ],
            hive: .init(engine: "etcd", ok: true, rtt_ms: 1.2, error: nil),
            volumes: [VolumeInfo(name: "vm", size_bytes: 4_096_000, block_size_bytes: 4096, home: "nyc", survive: "node", allowed_regions: nil, blocks: 1_000)],
            holders: ["vm": [3: "sydney"]], clock: nil, defaultWindowMs: 120_000)
    }
    func activity(sinceMs: Int64, untilMs: Int64) async throws(APIError) -> ActivitySnapshot {
        var s = log.snapshot(sinceMs: sinceMs, untilMs: untilMs)
        s.missing = ["london-1"]
        return s
    }
    func localActivity(sinceMs: Int64, untilMs: Int64) async -> ActivitySnapshot { log.snapshot(sinceMs: sinceMs, untilMs: untilMs) }
    func nowMs() async -> Int64 { 120_000 }
    func setClock(_ request: SetClockRequest) async throws(APIError) -> ClockInfo {
        throw APIError(status: .conflict, message: "a node has no clock to set")
    }
    func decisions() -> AsyncStream<Decision> { feed.subscribe() }
}

@Suite struct DashboardViewTests {
    @Test func heatMapRowsAreUsedOrMovedBlocksWithTheUnusedRunsMerged() async throws {
        let source = FakeDashboard()
        let state = try await source.dashboardState()
        let activity = try await source.activity(sinceMs: 0, untilMs: 120_000)
        let heat = DashboardViews.heat(state, activity, window: .init(sinceMs: 0, untilMs: 120_000, maxColumns: 60), maxRows: 1_500)
        #expect(heat.columns == 60 && heat.column_ms == 2_000 && heat.start_ms == 0)
        #expect(heat.regions == ["nyc", "sydney"])
        #expect(heat.rows.map { [$0.first, $0.last] } == [[0, 2], [3, 3], [4, 9], [10, 10], [11, 11], [12, 999]])
        let moved = heat.rows[1]
        // Held in nyc until the move's column, in sydney from it; sydney's clients wrote it.
        #expect(moved.segments == [[0, 0], [30, 1]])
        #expect(moved.holder == 1)
        #expect(moved.cells.count == 60 && moved.cells.allSatisfy { $0[1] == 4 && $0[2] == 0 && $0[3] == 1 })
        #expect(heat.rows[3].cells.allSatisfy { $0[1] == 0 && $0[2] == 4 && $0[3] == 0 })
        #expect(heat.rows[0].cells.isEmpty && heat.rows[0].segments == [[0, 0]])
        #expect(heat.moves.map(\.block) == [3] && heat.moves[0].column == 30 && heat.moves[0].from == 0 && heat.moves[0].to == 1)
        #expect(heat.missing == ["london-1"])
    }

    @Test func tooManyRowsAreMergedWithinTheVolume() async throws {
        let source = FakeDashboard()
        let state = try await source.dashboardState()
        let activity = try await source.activity(sinceMs: 0, untilMs: 120_000)
        let heat = DashboardViews.heat(state, activity, window: .init(sinceMs: 0, untilMs: 120_000, maxColumns: 10), maxRows: 3)
        #expect(heat.rows.count == 3)
        // Six rows, two at a time: the moved block with the unused ones before it, …
        #expect(heat.rows.map { [$0.first, $0.last] } == [[0, 3], [4, 10], [11, 999]])
        // … and their counts (24 writes or reads of a block per 12-s column) carried along.
        #expect(heat.rows[0].cells.count == 10 && heat.rows[0].cells.allSatisfy { $0[1] == 24 && $0[2] == 0 })
        #expect(heat.rows[1].cells.allSatisfy { $0[1] == 0 && $0[2] == 24 })
        #expect(heat.rows[0].segments == [[0, 0], [5, 1]])
    }

    @Test func aWindowBeforeTheMoveShowsTheOldHolderAndAZoomedRangeOnlyItsBlocks() async throws {
        let source = FakeDashboard()
        let state = try await source.dashboardState()
        let activity = try await source.activity(sinceMs: 0, untilMs: 50_000)
        let heat = DashboardViews.heat(
            state, activity, window: .init(sinceMs: 0, untilMs: 50_000, maxColumns: 50), maxRows: 100, volume: "vm", blocks: 2...4)
        #expect(heat.rows.map { [$0.first, $0.last] } == [[2, 2], [3, 3], [4, 4]])
        #expect(heat.rows[1].segments == [[0, 0]])
        #expect(heat.moves.isEmpty)
    }

    @Test func decisionsFilterAndComeNewestFirst() async throws {
        let activity = try await FakeDashboard().activity(sinceMs: 0, untilMs: 120_000)
        #expect(DashboardViews.decisions(activity).map(\.kind) == [.moved, .declined])
        #expect(DashboardViews.decisions(activity, block: 10).map(\.kind) == [.declined])
        #expect(DashboardViews.decisions(activity, region: "sydney").count == 2)
        #expect(DashboardViews.decisions(activity, kind: .moved, limit: 1).map(\.block) == [3])
        #expect(DashboardViews.decisions(activity, volume: "other").isEmpty)
    }

    @Test func latencyPercentilesFollowTheMove() async throws {
        let activity = try await FakeDashboard().activity(sinceMs: 0, untilMs: 120_000)
        let report = DashboardViews.latency(activity, window: .init(sinceMs: 0, untilMs: 120_000, maxColumns: 2))
        let sydney = try #require(report.series.first { $0.region == "sydney" && $0.op == "write" })
        #expect(sydney.points.count == 2)
        // Within one 25 % bucket of the recorded latency.
        #expect(sydney.points[0].p50_ms >= 230 && sydney.points[0].p50_ms < 230 * 1.25)
        #expect(sydney.points[1].p99_ms >= 0.1 && sydney.points[1].p99_ms < 0.125)
        #expect(report.series.contains { $0.region == "nyc" && $0.op == "read" })
    }

    @Test func usageSharesAddUpPerVolume() async throws {
        let source = FakeDashboard()
        let usage = DashboardViews.usage(try await source.dashboardState(), try await source.activity(sinceMs: 0, untilMs: 120_000))
        #expect(usage.count == 1)
        #expect(usage[0].share["sydney"] == 0.5 && usage[0].share["nyc"] == 0.5)
        #expect(usage[0].hours.count == 1 && usage[0].hours[0].bytes["nyc"] == 240 * 8192)
    }

    @Test func latencyHistogramsAddAndKeepTheirBuckets() throws {
        var a = LatencyHistogram()
        for ms in [0.001, 0.05, 1, 10, 1e9] { a.add(ms) }
        var b = LatencyHistogram()
        b.add(1)
        a.merge(b)
        #expect(a.total == 6)
        let round = try JSONDecoder().decode(LatencyHistogram.self, from: try JSONEncoder().encode(a))
        #expect(round == a)
        #expect(a.quantile(0.5)! >= 1 && a.quantile(0.5)! < 1.25)
        #expect(LatencyHistogram().quantile(0.5) == nil)
    }

    @Test func theLogForgetsOldColumnsButKeepsMoves() {
        var log = ActivityLog(columnMs: 1_000, keepColumns: 10)
        log.record(Decision(at_ms: 0, node: "a", region: "r", volume: "vm", block: 1, kind: .moved, to: "r", text: "t"))
        log.record(.write, volume: "vm", blocks: 0...0, bytes: 1, latencyMs: 1, region: "r", node: "a", atMs: 0)
        log.record(.write, volume: "vm", blocks: 0...0, bytes: 1, latencyMs: 1, region: "r", node: "a", atMs: 32_000)
        let snapshot = log.snapshot(sinceMs: 0, untilMs: 40_000)
        #expect(snapshot.cells.map(\.column) == [32])
        #expect(snapshot.decisions.count == 1)
    }
}

/// The dashboard's routes and the access rules, on a real server.
@Suite struct DashboardHTTPTests {
    func withServer(
        access: AccessPolicy = AccessPolicy(token: nil, loopback: true), _ body: @Sendable (URL, FakeDashboard) async throws -> Void
    ) async throws {
        let dashboard = FakeDashboard()
        try await withTestServer(FakeNode(), dashboard: dashboard, access: access) { base in try await body(base, dashboard) }
    }

    func call(_ base: URL, _ method: String, _ path: String, _ body: String? = nil, headers: [String: String] = [:]) async throws
        -> HTTPResult
    {
        try await httpCall(base, method, path, body, headers: headers)
    }

    @Test func thePageIsBuiltInAndLoadsNothingFromElsewhere() async throws {
        try await withServer { base, _ in
            let page = try await call(base, "GET", "/")
            #expect(page.status == 200)
            let html = String(decoding: page.body, as: UTF8.self)
            #expect(html.contains("dashboard.js") && html.contains("dashboard.css"))
            #expect(!html.contains("http://") && !html.contains("https://"))
            #expect((page.headers["Content-Security-Policy"] as? String)?.contains("default-src 'self'") == true)
            for file in ["/dashboard.js", "/dashboard.css"] {
                let asset = try await call(base, "GET", file)
                #expect(asset.status == 200 && asset.body.count > 100)
            }
            let script = String(decoding: try await call(base, "GET", "/dashboard.js").body, as: UTF8.self)
            #expect(!script.contains("innerHTML ="))
        }
    }

    @Test func everyViewRouteAnswersItsShape() async throws {
        try await withServer { base, _ in
            let overview = try await call(base, "GET", "/v1/overview")
            #expect(overview.status == 200)
            let o = try JSONDecoder().decode(Overview.self, from: overview.body)
            #expect(o.volumes[0].held_by_region == ["nyc": 999, "sydney": 1])
            #expect(o.regions[0].rtt_ms["sydney"] == 229.8)

            let heat = try JSONDecoder().decode(HeatMap.self, from: try await call(base, "GET", "/v1/heat?since_ms=0&until_ms=120000&columns=60").body)
            #expect(heat.rows.count == 6 && heat.columns == 60)
            let zoomed = try JSONDecoder().decode(HeatMap.self, from: try await call(base, "GET", "/v1/heat?volume=vm&first=3&last=3").body)
            #expect(zoomed.rows.map(\.first) == [3])

            let decisions = try JSONDecoder().decode([Decision].self, from: try await call(base, "GET", "/v1/decisions?kind=moved").body)
            #expect(decisions.map(\.block) == [3] && decisions[0].reason == .requested("test"))
            let latency = try JSONDecoder().decode(LatencyReport.self, from: try await call(base, "GET", "/v1/latency?columns=4").body)
            #expect(latency.series.count == 2)
            let usage = try JSONDecoder().decode([VolumeUsage].self, from: try await call(base, "GET", "/v1/usage?volume=vm").body)
            #expect(usage.map(\.volume) == ["vm"])
            let activity = try JSONDecoder().decode(ActivitySnapshot.self, from: try await call(base, "GET", "/v1/activity?since_ms=0").body)
            #expect(activity.missing.isEmpty && !activity.cells.isEmpty)
        }
    }

    @Test func badQueriesAre400WithWhatIsAllowed() async throws {
        try await withServer { base, _ in
            for (path, words) in [
                ("/v1/heat?since_ms=soon", "whole number"), ("/v1/heat?since_ms=10&until_ms=5", "before"),
                ("/v1/heat?first=3", "give volume"), ("/v1/heat?volume=vm&first=5&last=2", "before first"),
                ("/v1/decisions?kind=teleported", "moved, declined"),
            ] {
                let answer = try await call(base, "GET", path)
                #expect(answer.status == 400, "\(path)")
                #expect(answer.error?.contains(words) == true, "\(path): \(answer.error ?? "")")
            }
            let clock = try await call(base, "PUT", "/v1/clock", #"{"speed": 10}"#)
            #expect(clock.status == 409)
            let tooFast = try await call(base, "PUT", "/v1/clock", #"{"speed": 1e9}"#)
            #expect(tooFast.status == 400 && tooFast.error?.contains("100000") == true)
            let unknown = try await call(base, "PUT", "/v1/clock", #"{"sped": 10}"#)
            #expect(unknown.status == 400)
        }
    }

    /// Sends `request` on a plain socket and reads until `stop` appears (or 10 s pass): what a
    /// browser's `EventSource` sees of a stream that never ends.
    static func rawRead(port: Int, _ request: String, until stop: String, whenSeen trigger: String? = nil, _ onTrigger: @escaping @Sendable () -> Void = {}) async throws -> String {
        // On a thread of its own: a blocking read on the tasks' few threads would starve the server.
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<String, any Error>) in
          Thread {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { return done.resume(throwing: CocoaError(.fileReadUnknown)) }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            _ = request.withCString { send(fd, $0, strlen($0), 0) }
            var text = ""
            var triggered = false
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !text.contains(stop) {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                text += String(decoding: buffer[0..<n], as: UTF8.self)
                if let trigger, !triggered, text.contains(trigger) {
                    triggered = true
                    onTrigger()
                }
            }
            done.resume(returning: text)
          }.start()
        }
    }

    @Test func eventsStreamDecisionsAndTicks() async throws {
        try await withServer { base, dashboard in
            let feed = dashboard.feed
            let text = try await Self.rawRead(
                port: base.port!, "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", until: "\"block\":9",
                whenSeen: "event: tick"
            ) {
                feed.publish(Decision(at_ms: 1, node: "n", region: "r", volume: "vm", block: 9, kind: .moved, to: "r", text: "x"))
            }
            #expect(text.lowercased().contains("content-type: text/event-stream"))
            #expect(text.contains("retry: 1000") && text.contains("event: tick") && text.contains("event: decision"), "\(text)")
            #expect(text.contains("\"block\":9"))
        }
    }

    @Test func drainRoutesMarkAndUnmark() async throws {
        try await withServer { base, _ in
            let drained = try await call(base, "POST", "/v1/nodes/n2/drain", "{}")
            #expect(drained.status == 202)
            #expect((drained.json?["moving"] as? [String: Int]) == ["n3": 7])
            #expect(try await call(base, "GET", "/v1/nodes/n2").json?["drained"] as? Bool == true)
            #expect(try await call(base, "POST", "/v1/nodes/n2/undrain", "{}").status == 200)
            #expect(try await call(base, "GET", "/v1/nodes/n2").json?["drained"] as? Bool == false)
            #expect(try await call(base, "GET", "/v1/nodes/zz").status == 404)
        }
    }

    @Test func aTokenIsNeededForEverythingButThePage() async throws {
        try await withServer(access: AccessPolicy(token: "s3cret", loopback: false)) { base, _ in
            #expect(try await call(base, "GET", "/").status == 200)
            #expect(try await call(base, "GET", "/dashboard.js").status == 200)
            for path in ["/v1/status", "/v1/overview", "/v1/heat", "/metrics", "/v1/events"] {
                let refused = try await call(base, "GET", path)
                #expect(refused.status == 401, "\(path)")
                #expect(refused.error?.contains("Bearer") == true)
            }
            #expect(try await call(base, "GET", "/v1/status", headers: ["Authorization": "Bearer wrong!"]).status == 401)
            #expect(try await call(base, "GET", "/v1/status", headers: ["Authorization": "Bearer s3cret"]).status == 200)
            #expect(try await call(base, "GET", "/v1/status?token=s3cret").status == 401)
            let events = try await Self.rawRead(port: base.port!, "GET /v1/events?token=s3cret HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", until: "retry:")
            #expect(events.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func changesFromAnotherSiteAreRefused() async throws {
        try await withServer { base, _ in
            let body = #"{"volume": "vm-100-disk-0", "first": 0, "to": "sydney"}"#
            let foreign = try await call(base, "POST", "/v1/blocks/move", body, headers: ["Origin": "http://evil.example"])
            #expect(foreign.status == 403 && foreign.error?.contains("another origin") == true)
            let crossSite = try await call(base, "POST", "/v1/blocks/move", body, headers: ["Sec-Fetch-Site": "cross-site"])
            #expect(crossSite.status == 403)
            let own = try await call(base, "POST", "/v1/blocks/move", body, headers: ["Origin": base.absoluteString, "Sec-Fetch-Site": "same-origin"])
            #expect(own.status == 202)
            // Reading is allowed from anywhere a browser lets it be (no CORS headers are sent).
            #expect(try await call(base, "GET", "/v1/overview", headers: ["Origin": "http://evil.example"]).status == 200)
        }
    }

    @Test func aLoopbackNodeAnswersOnlyLoopbackNames() async throws {
        try await withServer { base, _ in
            let rebound = try await Self.rawRead(
                port: base.port!, "GET /v1/overview HTTP/1.1\r\nHost: attacker.example:7780\r\nConnection: close\r\n\r\n", until: "\"}")
            #expect(rebound.hasPrefix("HTTP/1.1 403") && rebound.contains("loopback"), "\(rebound)")
            let local = try await Self.rawRead(
                port: base.port!, "GET /v1/overview HTTP/1.1\r\nHost: localhost:7780\r\nConnection: close\r\n\r\n", until: "HTTP/1.1")
            #expect(local.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func theTokenIsTheSameOnEveryNodeAndHidesTheSecret() {
        let secret = Array("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0".utf8)
        let token = AccessPolicy.token(fromSecret: secret)
        #expect(token == AccessPolicy.token(fromSecret: secret))
        #expect(token != AccessPolicy.token(fromSecret: Array("another-secret-of-enough-bytes".utf8)))
        #expect(token.count == 43 && !token.contains("c2VjcmV0"))
        #expect(AccessPolicy.isLoopback(host: "127.0.0.1") && AccessPolicy.isLoopback(host: "[::1]") && !AccessPolicy.isLoopback(host: "0.0.0.0"))
    }
}
