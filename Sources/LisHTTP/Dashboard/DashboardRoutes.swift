import Foundation
import Hummingbird
import HummingbirdCore
import LisCore
import NIOCore
import ServiceLifecycle
import Synchronization

/// What the dashboard's routes need from whoever serves them: a node (`lis serve`) or a
/// simulated run (`lis sim run --serve`).
public protocol DashboardSource: Sendable {
    func dashboardState() async throws(APIError) -> DashboardState
    /// Every member's activity in `[sinceMs, untilMs)`, merged.
    func activity(sinceMs: Int64, untilMs: Int64) async throws(APIError) -> ActivitySnapshot
    /// This member's own (`GET /v1/activity`, what members read of each other).
    func localActivity(sinceMs: Int64, untilMs: Int64) async -> ActivitySnapshot
    /// The current time on the source's clock, ms.
    func nowMs() async -> Int64
    /// `PUT /v1/clock`: the simulator's virtual clock; a node answers 409.
    func setClock(_ request: SetClockRequest) async throws(APIError) -> ClockInfo
    /// Moves, started and abandoned steals as they happen (`GET /v1/events`).
    func decisions() -> AsyncStream<Decision>
    /// How often `/v1/events` sends a tick, wall seconds.
    var tickSeconds: Double { get }
}

/// The dashboard: the page (built into the binary) and the routes it reads (docs/DASHBOARD.md).
public enum DashboardRoutes {
    typealias Query = FlatDictionary<Substring, Substring>

    /// How long one `/v1/events` response lasts: the browser's `EventSource` reconnects by itself,
    /// and no response outlives a shutdown by more than this.
    static let eventStreamSeconds = 30.0

    public static func add<Context: RequestContext>(to router: Router<Context>, source: some DashboardSource) {
        addPage(to: router)
        let v1 = router.group("v1").add(middleware: APIErrorMiddleware<Context>())
        v1.get("overview") { _, _ in
            JSONResponse.make(DashboardViews.overview(try await source.dashboardState()), status: .ok)
        }
        v1.get("heat") { request, _ in
            let query = request.uri.queryParameters
            let state = try await source.dashboardState()
            let window = try window(query, state, defaultColumns: 120, maxColumns: 400)
            let volume = query["volume"].map(String.init)
            let first = try number(query, "first", UInt64.self)
            let last = try number(query, "last", UInt64.self)
            if (first != nil || last != nil) && volume == nil {
                throw APIError.badRequest("first and last name blocks of one volume: give volume too")
            }
            if let first, let last, last < first { throw APIError.badRequest("last (\(last)) is before first (\(first))") }
            let rows = min(1_500, max(1, try number(query, "rows", Int.self) ?? 1_500))
            let activity = try await source.activity(sinceMs: window.sinceMs, untilMs: window.untilMs)
            let range = (first != nil || last != nil) ? (first ?? 0)...(last ?? UInt64.max) : nil
            return JSONResponse.make(
                DashboardViews.heat(state, activity, window: window, maxRows: rows, volume: volume, blocks: range), status: .ok)
        }
        v1.get("decisions") { request, _ in
            let query = request.uri.queryParameters
            let kind = try query["kind"].map { raw throws(APIError) in
                guard let kind = Decision.Kind(rawValue: String(raw)) else {
                    throw APIError.badRequest(
                        "kind must be one of \(Decision.Kind.allCases.map(\.rawValue).joined(separator: ", ")), got \(raw)")
                }
                return kind
            }
            let block = try number(query, "block", UInt64.self)
            let limit = min(2_000, max(1, try number(query, "limit", Int.self) ?? 200))
            let now = await source.nowMs()
            let activity = try await source.activity(sinceMs: 0, untilMs: now + 1)
            return JSONResponse.make(
                DashboardViews.decisions(
                    activity, volume: query["volume"].map(String.init), block: block, region: query["region"].map(String.init),
                    kind: kind, limit: limit), status: .ok)
        }
        v1.get("latency") { request, _ in
            let state = try await source.dashboardState()
            let window = try window(request.uri.queryParameters, state, defaultColumns: 120, maxColumns: 400)
            let activity = try await source.activity(sinceMs: window.sinceMs, untilMs: window.untilMs)
            return JSONResponse.make(DashboardViews.latency(activity, window: window), status: .ok)
        }
        v1.get("usage") { request, _ in
            let query = request.uri.queryParameters
            let state = try await source.dashboardState()
            let activity = try await source.activity(sinceMs: 0, untilMs: state.nowMs + 1)
            return JSONResponse.make(DashboardViews.usage(state, activity, volume: query["volume"].map(String.init)), status: .ok)
        }
        v1.get("activity") { request, _ in
            let query = request.uri.queryParameters
            let now = await source.nowMs()
            let since = try number(query, "since_ms", Int64.self) ?? 0
            let until = try number(query, "until_ms", Int64.self) ?? now + 1
            return JSONResponse.make(await source.localActivity(sinceMs: since, untilMs: until), status: .ok)
        }
        v1.put("clock") { request, context in
            var request = request
            let body = try await request.collectBody(upTo: LisHTTPRoutes.maxBodyBytes)
            let set = try RequestDecoding.decode(SetClockRequest.self, from: body, expected: SetClockRequest.expectedShape)
            if let speed = set.speed, !(1...100_000).contains(speed) {
                throw APIError.badRequest("speed must be from 1 to 100000 virtual ms per wall ms, got \(speed)")
            }
            return JSONResponse.make(try await source.setClock(set), status: .ok)
        }
        v1.get("events") { _, _ in
            eventStream(source)
        }
    }

    /// The page's three files, served as they were built in.
    static func addPage<Context: RequestContext>(to router: Router<Context>) {
        let files: [(String, [UInt8], String)] = [
            ("/", PackageResources.index_html, "text/html; charset=utf-8"),
            ("/dashboard.js", PackageResources.dashboard_js, "text/javascript; charset=utf-8"),
            ("/dashboard.css", PackageResources.dashboard_css, "text/css; charset=utf-8"),
        ]
        for (path, bytes, type) in files {
            let respond: @Sendable (Request, Context) async throws -> Response = { _, _ in
                Response(
                    status: .ok,
                    headers: [
                        .contentType: type, .cacheControl: "no-cache",
                        // The page loads nothing from elsewhere and is never framed.
                        .contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                    ],
                    body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
            }
            // HEAD too: a checker or a proxy may ask what the page is without its body.
            router.get(RouterPath(path), use: respond)
            router.head(RouterPath(path), use: respond)
        }
    }

    /// Server-sent events: each decision as it happens, and a tick.
    static func eventStream(_ source: some DashboardSource) -> Response {
        let decisions = source.decisions()
        let tick = source.tickSeconds
        let body = ResponseBody { writer in
            let (lines, output) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(512))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let forward = Task {
                for await decision in decisions {
                    guard let data = try? encoder.encode(decision) else { continue }
                    output.yield("event: decision\ndata: \(String(decoding: data, as: UTF8.self))\n\n")
                }
            }
            let ticks = Task {
                let started = ContinuousClock.now
                var nextTick = started + .seconds(tick)
                // A stream ends when the server shuts down (it would hold the shutdown up), and
                // after `eventStreamSeconds`.
                while !Task.isCancelled && !Task.isShuttingDownGracefully
                    && ContinuousClock.now - started < .seconds(eventStreamSeconds)
                {
                    try? await Task.sleep(for: .milliseconds(100))
                    guard ContinuousClock.now >= nextTick else { continue }
                    nextTick += .seconds(tick)
                    output.yield("event: tick\ndata: {\"now_ms\":\(await source.nowMs())}\n\n")
                }
                output.finish()
            }
            defer {
                forward.cancel()
                ticks.cancel()
            }
            try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
            for await line in lines {
                try await writer.write(ByteBuffer(string: line))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    /// `since_ms`, `until_ms` and `columns`; the source's default window ending now.
    static func window(_ query: Query, _ state: DashboardState, defaultColumns: Int, maxColumns: Int)
        throws(APIError) -> DashboardViews.Window
    {
        let until = try number(query, "until_ms", Int64.self) ?? state.nowMs + 1
        let since = try number(query, "since_ms", Int64.self) ?? max(0, until - state.defaultWindowMs)
        guard since < until else { throw APIError.badRequest("since_ms (\(since)) must be before until_ms (\(until))") }
        let columns = min(maxColumns, max(1, try number(query, "columns", Int.self) ?? defaultColumns))
        return DashboardViews.Window(sinceMs: since, untilMs: until, maxColumns: columns)
    }

    static func number<T: FixedWidthInteger>(_ query: Query, _ name: String, _: T.Type) throws(APIError) -> T? {
        guard let raw = query[Substring(name)] else { return nil }
        guard let value = T(raw) else { throw APIError.badRequest("\(name) must be a whole number, got \(raw)") }
        return value
    }
}

/// Hands each decision to every `/v1/events` stream open now; a slow reader loses the oldest
/// (its stream keeps the newest 256), never slows the node.
public final class DecisionFeed: Sendable {
    private let subscribers = Mutex<(next: UInt64, all: [UInt64: AsyncStream<Decision>.Continuation])>((0, [:]))

    public init() {}

    public func publish(_ decision: Decision) {
        for continuation in subscribers.withLock({ Array($0.all.values) }) { continuation.yield(decision) }
    }

    public func subscribe() -> AsyncStream<Decision> {
        let (stream, continuation) = AsyncStream<Decision>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let id = subscribers.withLock { state in
            state.next += 1
            state.all[state.next] = continuation
            return state.next
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.all.removeValue(forKey: id) }
        }
        return stream
    }
}
