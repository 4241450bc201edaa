import Hummingbird
import Logging
import NIOCore

/// The API's routes over a `NodeAPI`:
///
/// | method and path | success |
/// | --- | --- |
/// | `GET /v1/status` | 200 `NodeStatus` |
/// | `GET /v1/volumes` | 200 `[VolumeInfo]` |
/// | `POST /v1/volumes` (`CreateVolumeRequest`) | 201 `VolumeInfo`, `Location: /v1/volumes/{name}` |
/// | `GET /v1/volumes/{name}` | 200 `VolumeInfo`, 404 if there is none |
/// | `DELETE /v1/volumes/{name}` | 204 |
/// | `POST /v1/volumes/{name}/resize` (`ResizeVolumeRequest`) | 200 `VolumeInfo` |
/// | `POST /v1/volumes/{name}/pin` (`PinVolumeRequest`) | 200 `VolumeInfo` |
/// | `GET /v1/volumes/{name}/blocks` | 200 `VolumeBlocks` |
/// | `POST /v1/blocks/move` (`MoveBlocksRequest`) | 202 `MoveBlocksAccepted` |
/// | `GET /v1/cluster` | 200 `ClusterInfo` |
/// | `GET /v1/nodes/{node}` | 200 `NodeDrainInfo` |
/// | `POST /v1/nodes/{node}/drain`, `/undrain` | 202, 200 `NodeDrainInfo` |
/// | `GET /v1/moves` | 200 `[MoveInfo]` |
/// | `GET`, `PUT /v1/faults` (`FaultSwitches`) | 200 `FaultSwitches` |
/// | `GET`, `PUT /v1/policy` (`SetPolicyRequest`) | 200 `PolicyInfo` |
/// | `GET /metrics` | 200, Prometheus's text format 0.0.4 |
/// | `GET /`, `/dashboard.js`, `/dashboard.css`, `/v1/overview`, `/v1/heat`, `/v1/decisions`, `/v1/latency`, `/v1/usage`, `/v1/activity`, `/v1/events`, `PUT /v1/clock` | the dashboard (`DashboardRoutes`, docs/DASHBOARD.md) |
///
/// `AccessMiddleware` guards them all (`AccessPolicy`: loopback host names, the bearer token,
/// no state change from another site). Every failure is `{"error": "…"}` with its status: 400 for a body that is not the JSON
/// expected (the message shows the expected body), the `NodeAPI`'s `APIError`s as thrown, 404
/// for unknown paths, 413 for a body over `maxBodyBytes`.
public enum LisHTTPRoutes {
    /// The largest request body read. Requests are a few hundred bytes; this bounds the memory
    /// a client can make the node hold.
    public static let maxBodyBytes = 64 * 1024

    /// A router with the API's routes, the dashboard's if `dashboard` is given, behind `access`.
    public static func router(
        api: some NodeAPI, dashboard: (any DashboardSource)? = nil, access: AccessPolicy = AccessPolicy(token: nil, loopback: false)
    ) -> Router<BasicRequestContext> {
        // At the root too, so unknown paths anywhere get the API's error shape; access inside
        // it, so its refusals get that shape too.
        let router = Router(context: BasicRequestContext.self).add(middleware: APIErrorMiddleware())
            .add(middleware: AccessMiddleware(policy: access))
        addRoutes(to: router, api: api)
        if let dashboard { DashboardRoutes.add(to: router, source: dashboard) }
        return router
    }

    /// A router with the dashboard alone (a simulated run: `lis sim run --serve`).
    public static func router(dashboard: some DashboardSource, access: AccessPolicy) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self).add(middleware: APIErrorMiddleware())
            .add(middleware: AccessMiddleware(policy: access))
        DashboardRoutes.add(to: router, source: dashboard)
        router.group("v1").add(middleware: APIErrorMiddleware()).post("blocks/move") { _, _ -> Response in
            throw APIError(status: .conflict, message: "a simulated run takes no operator moves")
        }
        return router
    }

    /// Adds the API's routes (under `/v1`) to an existing router, so one server can carry the
    /// API beside other routes.
    public static func addRoutes<Context: RequestContext>(to router: Router<Context>, api: some NodeAPI) {
        let v1 = router.group("v1").add(middleware: APIErrorMiddleware<Context>())

        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: await api.metrics())))
        }

        v1.get("status") { _, _ in
            JSONResponse.make(await api.status(), status: .ok)
        }
        v1.get("volumes") { _, _ in
            JSONResponse.make(await api.listVolumes(), status: .ok)
        }
        v1.get("cluster") { _, _ in
            JSONResponse.make(try await api.cluster(), status: .ok)
        }
        v1.get("moves") { _, _ in
            JSONResponse.make(await api.moves(), status: .ok)
        }
        v1.get("policy") { _, _ in
            JSONResponse.make(await api.policy(), status: .ok)
        }
        v1.put("policy") { request, context in
            let body = try await readBody(request, context: context)
            let set = try RequestDecoding.decode(SetPolicyRequest.self, from: body, expected: SetPolicyRequest.expectedShape)
            return JSONResponse.make(try await api.setPolicy(set), status: .ok)
        }
        v1.get("faults") { _, _ in
            JSONResponse.make(try await api.faults(), status: .ok)
        }
        v1.put("faults") { request, context in
            let body = try await readBody(request, context: context)
            let faults = try RequestDecoding.decode(FaultSwitches.self, from: body, expected: FaultSwitches.expectedShape)
            return JSONResponse.make(try await api.setFaults(faults), status: .ok)
        }
        v1.post("volumes") { request, context in
            let body = try await readBody(request, context: context)
            let create = try RequestDecoding.decode(
                CreateVolumeRequest.self, from: body, expected: CreateVolumeRequest.expectedShape)
            let volume = try await api.createVolume(create)
            var response = JSONResponse.make(volume, status: .created)
            response.headers[.location] = "/v1/volumes/\(volume.name)"
            return response
        }
        v1.get("volumes/:name") { _, context in
            let name = try context.parameters.require("name")
            guard let volume = await api.volume(named: name) else {
                throw APIError.notFound("no volume named \(name); `GET /v1/volumes` lists them")
            }
            return JSONResponse.make(volume, status: .ok)
        }
        v1.delete("volumes/:name") { _, context in
            let name = try context.parameters.require("name")
            try await api.deleteVolume(named: name)
            return Response(status: .noContent)
        }
        v1.get("volumes/:name/blocks") { _, context in
            JSONResponse.make(try await api.blocks(ofVolume: try context.parameters.require("name")), status: .ok)
        }
        v1.post("blocks/move") { request, context in
            let body = try await readBody(request, context: context)
            let move = try RequestDecoding.decode(MoveBlocksRequest.self, from: body, expected: MoveBlocksRequest.expectedShape)
            return JSONResponse.make(try await api.moveBlocks(move), status: .accepted)
        }
        v1.get("nodes/:node") { _, context in
            JSONResponse.make(try await api.node(named: try context.parameters.require("node")), status: .ok)
        }
        v1.post("nodes/:node/drain") { _, context in
            JSONResponse.make(try await api.drainNode(named: try context.parameters.require("node"), drained: true), status: .accepted)
        }
        v1.post("nodes/:node/undrain") { _, context in
            JSONResponse.make(try await api.drainNode(named: try context.parameters.require("node"), drained: false), status: .ok)
        }
        v1.post("volumes/:name/pin") { request, context in
            let name = try context.parameters.require("name")
            let body = try await readBody(request, context: context)
            let pin = try RequestDecoding.decode(PinVolumeRequest.self, from: body, expected: PinVolumeRequest.expectedShape)
            return JSONResponse.make(try await api.pinVolume(named: name, pin), status: .ok)
        }
        v1.post("volumes/:name/resize") { request, context in
            let name = try context.parameters.require("name")
            let body = try await readBody(request, context: context)
            let resize = try RequestDecoding.decode(
                ResizeVolumeRequest.self, from: body, expected: ResizeVolumeRequest.expectedShape)
            return JSONResponse.make(try await api.resizeVolume(named: name, resize), status: .ok)
        }
    }

    /// An application serving the API (and nothing else) on `host:port`. Port 0 picks a free
    /// port; `onServerRunning` receives the listening channel (`channel.localAddress?.port`).
    /// The caller runs it: add it to a `ServiceGroup` (it is a `Service`) rather than calling
    /// `runService()`, which installs its own signal handlers.
    public static func application(
        api: some NodeAPI, dashboard: (any DashboardSource)? = nil, access: AccessPolicy = AccessPolicy(token: nil, loopback: false),
        host: String, port: Int,
        eventLoopGroup: EventLoopGroupProvider = .singleton,
        logger: Logger? = nil,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> Application<RouterResponder<BasicRequestContext>> {
        Application(
            router: router(api: api, dashboard: dashboard, access: access),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "lis"),
            onServerRunning: onServerRunning,
            eventLoopGroupProvider: eventLoopGroup,
            logger: logger ?? Logger(label: "lis.http"))
    }

    private static func readBody(_ request: Request, context: some RequestContext) async throws -> ByteBuffer {
        var request = request
        return try await request.collectBody(upTo: maxBodyBytes)
    }
}
