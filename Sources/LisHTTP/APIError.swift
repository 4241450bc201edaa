import Hummingbird

/// A refused or failed API call: the HTTP status and a message for people that says what was
/// wrong and what would be accepted. Rendered as `{"error": "<message>"}` with that status.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String

    public init(status: HTTPResponse.Status, message: String) {
        self.status = status
        self.message = message
    }

    /// 400: the request is malformed or asks for something not allowed.
    public static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, message: message) }
    /// 404.
    public static func notFound(_ message: String) -> APIError { APIError(status: .notFound, message: message) }

    public var description: String { "\(status.code) \(message)" }
}

/// The error body of every API response that is not a success.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public var error: String
    public init(error: String) { self.error = error }
}

extension APIError: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.make(APIErrorBody(error: message), status: status)
    }
}

/// Turns every error a route throws into `{"error": "…"}`: an `APIError` as it is,
/// Hummingbird's own errors (no such route, body too large) with their status, anything else
/// as a 500 with its description, so a client never has to parse two error shapes.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return JSONResponse.make(APIErrorBody(error: error.message), status: error.status)
        } catch let error as HTTPError {
            let message = error.body ?? Self.message(for: error.status, request)
            return JSONResponse.make(APIErrorBody(error: message), status: error.status)
        } catch let error as any HTTPResponseError {
            // Such as NIO's "too many bytes" when a body passes the limit.
            return JSONResponse.make(APIErrorBody(error: Self.message(for: error.status, request)), status: error.status)
        } catch {
            context.logger.error("API request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return JSONResponse.make(
                APIErrorBody(error: "internal error: \(error)"), status: .internalServerError)
        }
    }

    /// A message for an error that came without one.
    static func message(for status: HTTPResponse.Status, _ request: Request) -> String {
        switch status {
        case .notFound:
            "no endpoint \(request.method.rawValue) \(request.uri.path); the API's routes include "
                + "GET /v1/status, /v1/volumes, /v1/cluster, /v1/overview and /metrics, and the dashboard at /"
        case .contentTooLarge:
            "the request body is too large; the limit is \(LisHTTPRoutes.maxBodyBytes) bytes"
        default:
            status.reasonPhrase
        }
    }
}
