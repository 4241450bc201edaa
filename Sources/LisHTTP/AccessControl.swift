import Crypto
import Foundation
import Hummingbird

/// Who may call the API and load the dashboard (docs/DASHBOARD.md "Access").
///
/// * Bound to loopback, any local process may call it (as it may read the data directory), but
///   only under a loopback host name: a web page that rebinds its own name to 127.0.0.1 sends
///   its own `Host` and is refused.
/// * Bound to any other address, every route but the page's files needs the cluster's bearer
///   token (`lis cluster init` prints it; it is derived from the join secret, so every node
///   accepts the same one).
/// * A request that changes anything (not GET or HEAD) from another site is refused, token or
///   not: a browser sends `Origin` (and `Sec-Fetch-Site`) with it, and a page elsewhere must not
///   be able to move blocks through a browser that can reach the node.
public struct AccessPolicy: Sendable, Equatable {
    /// The bearer token every route but the page needs; nil: none (loopback).
    public var token: String?
    /// Bound to a loopback address: `Host` must name loopback.
    public var loopback: Bool

    public init(token: String?, loopback: Bool) {
        self.token = token
        self.loopback = loopback
    }

    /// The API token of a cluster with this join secret: HMAC-SHA256 of a fixed label, so it
    /// says nothing about the secret and every node derives the same one.
    public static func token(fromSecret secret: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("lis api token v1".utf8), using: SymmetricKey(data: secret))
        return Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Whether `host` (of `host:port`, as configured) is a loopback address or name.
    public static func isLoopback(host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// Files of the page: they hold no data, and a browser must load them before it has a token.
    static let publicPaths: Set<String> = ["/", "/dashboard.js", "/dashboard.css"]
}

struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: AccessPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if policy.loopback, let host = request.head.authority, !AccessPolicy.isLoopback(host: Self.hostName(host)) {
            throw APIError(
                status: .forbidden,
                message: "this node's API listens on loopback only and answers only to a loopback host name (got \(host))")
        }
        if request.method != .get && request.method != .head {
            if let site = request.headers.first(where: { $0.name.canonicalName == "sec-fetch-site" })?.value,
                site != "same-origin" && site != "none"
            {
                throw APIError(status: .forbidden, message: "refused a \(request.method.rawValue) from another site (\(site))")
            }
            if let origin = request.headers[.origin], let host = request.head.authority,
                URL(string: origin).map({ Self.authority($0) }) != host.lowercased()
            {
                throw APIError(status: .forbidden, message: "refused a \(request.method.rawValue) from another origin (\(origin))")
            }
        }
        if let token = policy.token, !AccessPolicy.publicPaths.contains(request.uri.path) {
            guard Self.presented(request).map({ Self.equal($0, token) }) ?? false else {
                var response = JSONResponse.make(
                    APIErrorBody(error: "this node needs its cluster's API token: Authorization: Bearer TOKEN (lis cluster init printed it; lis reads --token-file or $LIS_API_TOKEN)"),
                    status: .unauthorized)
                response.headers[.wwwAuthenticate] = "Bearer"
                return response
            }
        }
        return try await next(request, context)
    }

    /// The token a request carries: its bearer header, or `?token=` on `/v1/events` (a browser's
    /// `EventSource` cannot send headers).
    static func presented(_ request: Request) -> String? {
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            return String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        }
        if request.uri.path == "/v1/events", let token = request.uri.queryParameters["token"] { return String(token) }
        return nil
    }

    /// Compares in time independent of where the strings differ.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// `host:port` of a URL as a `Host` header writes it.
    static func authority(_ url: URL) -> String {
        guard let host = url.host else { return "" }
        let name = host.contains(":") ? "[\(host)]" : host
        return (url.port.map { "\(name):\($0)" } ?? name).lowercased()
    }

    /// The host of a `Host` header, without the port.
    static func hostName(_ header: String) -> String {
        if header.hasPrefix("["), let end = header.firstIndex(of: "]") { return String(header[...end]) }
        return String(header.split(separator: ":", maxSplits: 1).first ?? "")
    }
}
