import Foundation
import LisCore
import LisHTTP
import Logging
import NIOCore
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A node for the API tests: volumes in memory, validated with the shared rules.
actor FakeNode: NodeAPI {
    var volumes: [String: VolumeInfo] = [:]
    var requests: [CreateVolumeRequest] = []

    func cluster() async throws(APIError) -> ClusterInfo {
        ClusterInfo(
            cluster: nil, hive: "embedded", node_id: "fake", region: "local",
            members: [MemberInfo(node_id: "fake", region: "local", address: nil, home: true, moved_blocks_held: 0)],
            measured_rtt_ms: [:], held_blocks: 0, steals_in_flight: 0, peers: nil,
            in_flight: InFlightInfo(nbdCommands: 0, inputsQueued: 0, core: WorkInFlight()))
    }
    func moves() async -> [MoveInfo] { [] }
    var paused = false
    func policy() async -> PolicyInfo { PolicyInfo(policy: "adaptive", paused: paused) }
    func setPolicy(_ request: SetPolicyRequest) async throws(APIError) -> PolicyInfo {
        paused = request.paused
        return PolicyInfo(policy: "adaptive", paused: paused)
    }
    func metrics() async -> String {
        let metrics = Metrics(labels: [("node", "fake")])
        metrics.increment(Metrics.Family("lis_test_total", .counter, "A counter of the fake node."))
        return metrics.text()
    }
    func faults() async throws(APIError) -> FaultSwitches { FaultSwitches(peers: [:]) }
    func setFaults(_ faults: FaultSwitches) async throws(APIError) -> FaultSwitches { faults }
    func moveBlocks(_ r: MoveBlocksRequest) async throws(APIError) -> MoveBlocksAccepted {
        MoveBlocksAccepted(volume: r.volume, first: r.first, last: r.last ?? r.first, to: r.to, node: "n-\(r.to)")
    }
    func blocks(ofVolume name: String) async throws(APIError) -> VolumeBlocks {
        guard name == "vm-100-disk-0" else { throw APIError.notFound("no volume named \(name)") }
        return VolumeBlocks(volume: name, home: "nyc", blocks: 20, moved: [.init(block: 3, holder: "s-1", region: "sydney", epoch: 2, state: "active")])
    }

    var drained: Set<String> = []
    func node(named name: String) async throws(APIError) -> NodeDrainInfo {
        guard name == "n1" || name == "n2" else { throw APIError.notFound("no member named \(name)") }
        return NodeDrainInfo(node: name, region: "local", drained: drained.contains(name), held_blocks: drained.contains(name) ? 0 : 7)
    }
    func drainNode(named name: String, drained: Bool) async throws(APIError) -> NodeDrainInfo {
        guard name == "n1" || name == "n2" else { throw APIError.notFound("no member named \(name)") }
        if drained { self.drained.insert(name) } else { self.drained.remove(name) }
        return NodeDrainInfo(node: name, region: "local", drained: drained, held_blocks: 7, moving: drained ? ["n3": 7] : [:])
    }

    nonisolated func status() async -> NodeStatus {
        NodeStatus(
            node_id: "n1", region: "local", version: "0.1.0", uptime_seconds: 1.5, data_dir: "/tmp/lis", hive: "embedded",
            nbd_unix_socket: nil, nbd_tcp_address: "127.0.0.1:10809", http_address: "127.0.0.1:7780", volumes: 0,
            held_blocks: 0, open_connections: 0,
            disk: DiskFigures(total_bytes: 100 << 30, available_bytes: 40 << 30, used_bytes: 55 << 30))
    }

    func listVolumes() async -> [VolumeInfo] { volumes.values.sorted { $0.name < $1.name } }

    func volume(named name: String) async -> VolumeInfo? { volumes[name] }

    func createVolume(_ request: CreateVolumeRequest) async throws(APIError) -> VolumeInfo {
        requests.append(request)
        let spec = try VolumeRequestValidation.spec(from: request, defaults: VolumeDefaults(), localRegion: RegionID("local"))
        if volumes[spec.name.name] != nil {
            throw APIError(status: .conflict, message: "volume \(spec.name) already exists")
        }
        let info = Self.info(spec)
        volumes[spec.name.name] = info
        return info
    }

    func deleteVolume(named name: String) async throws(APIError) {
        guard volumes.removeValue(forKey: name) != nil else { throw .notFound("no volume named \(name)") }
    }

    func resizeVolume(named name: String, _ request: ResizeVolumeRequest) async throws(APIError) -> VolumeInfo {
        guard var info = volumes[name] else { throw .notFound("no volume named \(name)") }
        let size = try VolumeRequestValidation.size(request.size)
        guard size >= info.size_bytes else { throw .badRequest("volumes only grow") }
        info.size_bytes = size
        info.blocks = (size + info.block_size_bytes - 1) / info.block_size_bytes
        volumes[name] = info
        return info
    }

    func pinVolume(named name: String, _ request: PinVolumeRequest) async throws(APIError) -> VolumeInfo {
        guard var info = volumes[name] else { throw .notFound("no volume named \(name)") }
        info.allowed_regions = try request.allowed_regions.map { names throws(APIError) in
            try VolumeRequestValidation.allowedRegions(names, home: RegionID(info.home)).map(\.name)
        }
        volumes[name] = info
        return info
    }

    static func info(_ spec: VolumeSpec) -> VolumeInfo {
        VolumeInfo(
            name: spec.name.name, size_bytes: spec.sizeBytes, block_size_bytes: spec.blockSizeBytes, home: spec.home.name,
            survive: spec.survive.rawValue, allowed_regions: spec.allowedRegions?.map(\.name), blocks: spec.blockCount)
    }
}

/// One HTTP exchange's outcome.
struct HTTPResult {
    var status: Int
    var body: Data
    var headers: [AnyHashable: Any]
    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
    var error: String? { json?["error"] as? String }
}

/// The router (the API's, with a dashboard and access rules if given) served by a real
/// Hummingbird server on 127.0.0.1 and a free port (the test target does not depend on
/// HummingbirdTesting). The server is stopped by cancelling its task.
func withTestServer(
    _ api: FakeNode, dashboard: (any DashboardSource)? = nil, access: AccessPolicy = AccessPolicy(token: nil, loopback: false),
    _ body: @Sendable (URL) async throws -> Void
) async throws {
    let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
    // Cancelling logs errors about the connections URLSession keeps open; those are expected.
    var logger = Logger(label: "lis.http.test")
    logger.logLevel = .critical
    let app = LisHTTPRoutes.application(api: api, dashboard: dashboard, access: access, host: "127.0.0.1", port: 0, logger: logger) {
        channel in
        portSink.yield(channel.localAddress?.port ?? 0)
        portSink.finish()
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        #expect(port > 0)
        do {
            try await body(URL(string: "http://127.0.0.1:\(port)")!)
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
    }
}

/// One request over URLSession; `path` may carry a query.
func httpCall(_ base: URL, _ method: String, _ path: String, _ body: String? = nil, headers: [String: String] = [:]) async throws
    -> HTTPResult
{
    var request = URLRequest(url: URL(string: base.absoluteString + path)!)
    request.httpMethod = method
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    if let body {
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    }
    let (data, response) = try await URLSession.shared.data(for: request)
    let http = try #require(response as? HTTPURLResponse)
    return HTTPResult(status: http.statusCode, body: data, headers: http.allHeaderFields)
}

@Suite struct HTTPTests {
    func withServer(_ api: FakeNode, _ body: @Sendable (URL) async throws -> Void) async throws {
        try await withTestServer(api, body)
    }

    func call(_ base: URL, _ method: String, _ path: String, _ body: String? = nil) async throws -> HTTPResult {
        try await httpCall(base, method, path, body)
    }

    @Test func statusHasEveryKeyInSnakeCase() async throws {
        try await withServer(FakeNode()) { base in
            let result = try await call(base, "GET", "/v1/status")
            #expect(result.status == 200)
            let json = try #require(result.json)
            #expect(
                Set(json.keys) == [
                    "node_id", "region", "version", "uptime_seconds", "data_dir", "hive", "nbd_unix_socket",
                    "nbd_tcp_address", "http_address", "volumes", "held_blocks", "open_connections", "disk",
                ])
            #expect(json["nbd_unix_socket"] is NSNull)
            let disk = try #require(json["disk"] as? [String: Any])
            #expect(disk["total_bytes"] as? Int == 100 << 30 && disk["available_bytes"] as? Int == 40 << 30)
            #expect(disk["used_bytes"] as? Int == 55 << 30)
            #expect(json["version"] as? String == "0.1.0")
            #expect(json["hive"] as? String == "embedded")
            let decoded = try JSONDecoder().decode(NodeStatus.self, from: result.body)
            #expect(decoded == (await FakeNode().status()))
        }
    }

    @Test func createWithStringAndIntegerSizesThenListAndGet() async throws {
        let node = FakeNode()
        try await withServer(node) { base in
            let created = try await call(base, "POST", "/v1/volumes", #"{"name": "vm-1", "size": "20G", "block_size": "4M"}"#)
            #expect(created.status == 201)
            let info = try JSONDecoder().decode(VolumeInfo.self, from: created.body)
            #expect(info.size_bytes == 20 << 30 && info.block_size_bytes == 4 << 20 && info.blocks == 5120)
            #expect(info.home == "local" && info.survive == "node" && info.allowed_regions == nil)
            #expect(created.json?.keys.contains("allowed_regions") == true)

            let integer = try await call(
                base, "POST", "/v1/volumes",
                #"{"name": "vm-0", "size": 1073741824, "block_size": 65536, "survive": "region", "allowed_regions": ["local", "nyc"]}"#)
            #expect(integer.status == 201)
            let zero = try JSONDecoder().decode(VolumeInfo.self, from: integer.body)
            #expect(zero.size_bytes == 1 << 30 && zero.block_size_bytes == 64 << 10 && zero.survive == "region")
            #expect(zero.allowed_regions == ["local", "nyc"])

            let list = try await call(base, "GET", "/v1/volumes")
            #expect(list.status == 200)
            #expect(try JSONDecoder().decode([VolumeInfo].self, from: list.body).map(\.name) == ["vm-0", "vm-1"])

            let one = try await call(base, "GET", "/v1/volumes/vm-1")
            #expect(one.status == 200)
            #expect(try JSONDecoder().decode(VolumeInfo.self, from: one.body) == info)

            let duplicate = try await call(base, "POST", "/v1/volumes", #"{"name": "vm-1", "size": "1G"}"#)
            #expect(duplicate.status == 409)
            #expect(duplicate.error == "volume vm-1 already exists")
        }
        #expect(await node.requests.first?.size == .text("20G"))
    }

    @Test func badBodiesAre400WithWhatIsExpected() async throws {
        let node = FakeNode()
        try await withServer(node) { base in
            let cases: [(body: String, says: String)] = [
                ("{not json", "not valid JSON"),
                ("", "body is empty"),
                ("[]", "must be a JSON object"),
                (#"{"name": "vm"}"#, #"missing field "size""#),
                (#"{"size": "1G"}"#, #"missing field "name""#),
                (#"{"name": "vm", "size": true}"#, #"field "size" must be a size"#),
                (#"{"name": "vm", "size": "1G", "blocksize": "1M"}"#, #"unknown field "blocksize""#),
                (#"{"name": "vm", "size": "1G", "allowed_regions": "local"}"#, #"field "allowed_regions" must be an array"#),
                (#"{"name": "vm", "size": "1G", "allowed_regions": [1]}"#, #"field "allowed_regions[0]" must be a string"#),
                (#"{"name": 5, "size": "1G"}"#, #"field "name" must be a string"#),
            ]
            for (body, says) in cases {
                let result = try await call(base, "POST", "/v1/volumes", body)
                #expect(result.status == 400, "\(body)")
                let error = try #require(result.error, "\(body)")
                #expect(error.contains(says), "\(body) → \(error)")
                #expect(error.contains(#"{"name": "vm-100-disk-0", "size": "20G""#), "\(body) → \(error)")
            }
            // The node's own validation comes back verbatim.
            let size = try await call(base, "POST", "/v1/volumes", #"{"name": "vm", "size": "20X"}"#)
            #expect(size.status == 400)
            #expect(size.error?.contains(#"unknown unit "X""#) == true)
            #expect(size.error?.contains("GiB") == true)

            let huge = try await call(
                base, "POST", "/v1/volumes", #"{"name": "vm", "size": "1G", "home": ""# + String(repeating: "x", count: 100_000) + #""}"#)
            #expect(huge.status == 413)
            #expect(huge.error?.contains("the limit is 65536 bytes") == true)

            let resize = try await call(base, "POST", "/v1/volumes/vm/resize", #"{"bytes": 5}"#)
            #expect(resize.status == 400)
            #expect(resize.error?.contains(#"{"size": "40G"}"#) == true)
        }
        #expect(await node.volumes.isEmpty)
    }

    @Test func missingVolumesAre404AndDeleteIs204() async throws {
        try await withServer(FakeNode()) { base in
            let missing = try await call(base, "GET", "/v1/volumes/nope")
            #expect(missing.status == 404)
            #expect(missing.error?.contains("no volume named nope") == true)

            #expect(try await call(base, "POST", "/v1/volumes", #"{"name": "d", "size": "1M"}"#).status == 201)
            let deleted = try await call(base, "DELETE", "/v1/volumes/d")
            #expect(deleted.status == 204)
            #expect(deleted.body.isEmpty)
            let again = try await call(base, "DELETE", "/v1/volumes/d")
            #expect(again.status == 404)
            #expect(again.error == "no volume named d")

            let unknown = try await call(base, "GET", "/v2/nothing")
            #expect(unknown.status == 404)
            #expect(unknown.error?.contains("GET /v1/status") == true)
        }
    }

    @Test func blockMovesAre202AndBlockListsGo404ForMissingVolumes() async throws {
        try await withServer(FakeNode()) { base in
            let moved = try await call(base, "POST", "/v1/blocks/move", #"{"volume": "vm", "first": 2, "last": 5, "to": "sydney"}"#)
            #expect(moved.status == 202)
            let accepted = try JSONDecoder().decode(MoveBlocksAccepted.self, from: moved.body)
            #expect(accepted == MoveBlocksAccepted(volume: "vm", first: 2, last: 5, to: "sydney", node: "n-sydney"))
            let bad = try await call(base, "POST", "/v1/blocks/move", #"{"volume": "vm", "to": "sydney"}"#)
            #expect(bad.status == 400)
            #expect(bad.error?.contains(#""first": 0"#) == true, "the error shows the expected body")

            let blocks = try await call(base, "GET", "/v1/volumes/vm-100-disk-0/blocks")
            #expect(blocks.status == 200)
            let listed = try JSONDecoder().decode(VolumeBlocks.self, from: blocks.body)
            #expect(listed.moved.map(\.holder) == ["s-1"] && listed.home == "nyc")
            #expect(try await call(base, "GET", "/v1/volumes/nope/blocks").status == 404)
        }
    }

    @Test func pinSetsAndClearsAllowedRegionsAndNeedsTheKey() async throws {
        try await withServer(FakeNode()) { base in
            #expect(try await call(base, "POST", "/v1/volumes", #"{"name": "p", "size": "1G", "home": "nyc"}"#).status == 201)
            let pinned = try await call(base, "POST", "/v1/volumes/p/pin", #"{"allowed_regions": ["nyc", "london"]}"#)
            #expect(pinned.status == 200)
            #expect(try JSONDecoder().decode(VolumeInfo.self, from: pinned.body).allowed_regions == ["nyc", "london"])
            let withoutHome = try await call(base, "POST", "/v1/volumes/p/pin", #"{"allowed_regions": ["london"]}"#)
            #expect(withoutHome.status == 400)
            #expect(withoutHome.error?.contains("home region nyc") == true)
            let empty = try await call(base, "POST", "/v1/volumes/p/pin", "{}")
            #expect(empty.status == 400, "an empty body does not unpin")
            #expect(empty.error?.contains("(null: every region)") == true, "the error shows the expected body")
            let unpinned = try await call(base, "POST", "/v1/volumes/p/pin", #"{"allowed_regions": null}"#)
            #expect(unpinned.status == 200)
            #expect(try JSONDecoder().decode(VolumeInfo.self, from: unpinned.body).allowed_regions == nil)
            #expect(try await call(base, "POST", "/v1/volumes/nope/pin", #"{"allowed_regions": null}"#).status == 404)
        }
    }

    @Test func policyPausesAndResumesAndRefusesOtherBodies() async throws {
        try await withServer(FakeNode()) { base in
            let paused = try await call(base, "PUT", "/v1/policy", #"{"paused": true}"#)
            #expect(paused.status == 200)
            #expect(try JSONDecoder().decode(PolicyInfo.self, from: paused.body) == PolicyInfo(policy: "adaptive", paused: true))
            let now = try await call(base, "GET", "/v1/policy")
            #expect(try JSONDecoder().decode(PolicyInfo.self, from: now.body).paused)
            let bad = try await call(base, "PUT", "/v1/policy", #"{"paused": "yes"}"#)
            #expect(bad.status == 400)
            #expect(bad.error?.contains(#"{"paused": true}"#) == true, "the error shows the expected body")
            #expect(try await call(base, "PUT", "/v1/policy", #"{"pause": true}"#).status == 400)
        }
    }

    @Test func metricsAreServedAtTheRootAsPrometheusText() async throws {
        try await withServer(FakeNode()) { base in
            let result = try await call(base, "GET", "/metrics")
            #expect(result.status == 200)
            #expect((result.headers["Content-Type"] as? String)?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(String(decoding: result.body, as: UTF8.self).contains("lis_test_total{node=\"fake\"} 1\n"))
        }
    }

    @Test func resizeGrows() async throws {
        try await withServer(FakeNode()) { base in
            #expect(try await call(base, "POST", "/v1/volumes", #"{"name": "r", "size": "20G"}"#).status == 201)
            let grown = try await call(base, "POST", "/v1/volumes/r/resize", #"{"size": "40G"}"#)
            #expect(grown.status == 200)
            let info = try JSONDecoder().decode(VolumeInfo.self, from: grown.body)
            #expect(info.size_bytes == 40 << 30 && info.blocks == 40 * 1024)
            let bytes = try await call(base, "POST", "/v1/volumes/r/resize", #"{"size": 64424509440}"#)
            #expect(bytes.status == 200)
            let shrink = try await call(base, "POST", "/v1/volumes/r/resize", #"{"size": "1G"}"#)
            #expect(shrink.status == 400)
            #expect(shrink.error == "volumes only grow")
            let missing = try await call(base, "POST", "/v1/volumes/nope/resize", #"{"size": "1G"}"#)
            #expect(missing.status == 404)
        }
    }
}

/// The shared request rules: every refusal names the field and what is allowed.
@Suite struct VolumeRequestValidationTests {
    let local = RegionID("local")

    func refusal(_ request: CreateVolumeRequest) -> String? {
        do {
            _ = try VolumeRequestValidation.spec(from: request, defaults: VolumeDefaults(), localRegion: local)
            return nil
        } catch {
            #expect(error.status == .badRequest)
            return error.message
        }
    }

    @Test func defaultsFillTheGaps() throws {
        var defaults = VolumeDefaults()
        defaults.blockSizeBytes = 4 << 20
        defaults.survive = .region
        let spec = try VolumeRequestValidation.spec(
            from: CreateVolumeRequest(name: "vm-1", size: "1.5G"), defaults: defaults, localRegion: local)
        #expect(
            spec == VolumeSpec(
                name: VolumeName("vm-1"), sizeBytes: 3 << 29, blockSizeBytes: 4 << 20, home: local, survive: .region,
                allowedRegions: nil))
        let explicit = try VolumeRequestValidation.spec(
            from: CreateVolumeRequest(
                name: "f", size: 65536, block_size: "64KiB", home: "nyc", survive: "node", allowed_regions: ["nyc", "sydney"]),
            defaults: defaults, localRegion: local)
        #expect(explicit.home == RegionID("nyc") && explicit.blockSizeBytes == 65536 && explicit.survive == .node)
        #expect(explicit.allowedRegions == [RegionID("nyc"), RegionID("sydney")])
    }

    @Test func everyRefusalSaysWhatIsAllowed() {
        let cases: [(CreateVolumeRequest, [String])] = [
            (CreateVolumeRequest(name: "", size: "1G"), ["name", "must not be empty"]),
            (CreateVolumeRequest(name: "a b", size: "1G"), ["only letters, digits"]),
            (CreateVolumeRequest(name: "v", size: 0), ["above 0", "multiple of 4KiB"]),
            (CreateVolumeRequest(name: "v", size: 1000), ["not a multiple of 4KiB", "4KiB"]),
            (CreateVolumeRequest(name: "v", size: "2000T"), ["too large", "1024TiB"]),
            (CreateVolumeRequest(name: "v", size: "20X"), ["size", "unknown unit", "GiB"]),
            (CreateVolumeRequest(name: "v", size: "1KB"), ["unknown unit \"KB\"", "KiB"]),
            (CreateVolumeRequest(name: "v", size: "1G", block_size: "100K"), ["block_size", "power of two", "64KiB", "64MiB"]),
            (CreateVolumeRequest(name: "v", size: "1G", block_size: "128M"), ["power of two", "64M"]),
            (CreateVolumeRequest(name: "v", size: "1G", block_size: "32K"), ["power of two", "64K"]),
            (CreateVolumeRequest(name: "v", size: "1G", survive: "zone"), ["survive \"zone\"", "\"node\" or \"region\""]),
            (CreateVolumeRequest(name: "v", size: "1G", allowed_regions: ["nyc"]), ["must include the home region local"]),
            (CreateVolumeRequest(name: "v", size: "1G", allowed_regions: []), ["at least the home region", "leave it out"]),
            (CreateVolumeRequest(name: "v", size: "1G", allowed_regions: ["local", "local"]), ["twice"]),
            (CreateVolumeRequest(name: "v", size: "1G", allowed_regions: ["local", "a,b"]), ["allowed_regions[1]", "without spaces or commas"]),
            (CreateVolumeRequest(name: "v", size: "1G", home: ""), ["home is empty", "region name"]),
        ]
        for (request, phrases) in cases {
            guard let message = refusal(request) else {
                Issue.record("accepted \(request)")
                continue
            }
            for phrase in phrases {
                #expect(message.contains(phrase), "\(request) → \(message)")
            }
        }
    }

    @Test func sizeRulesAlone() throws {
        #expect(try VolumeRequestValidation.size("40G") == 40 << 30)
        #expect(try VolumeRequestValidation.size(4096) == 4096)
        #expect(try VolumeRequestValidation.blockSize("1M") == 1 << 20)
        let error = #expect(throws: APIError.self) { try VolumeRequestValidation.size("4097", key: "--size") }
        #expect(error?.message.hasPrefix("--size") == true)
        #expect(error?.message.contains("8KiB") == true)
    }
}
