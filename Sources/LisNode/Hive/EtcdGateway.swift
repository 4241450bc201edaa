import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

/// A thin client of etcd's v3 JSON gateway (`/v3/kv/range`, `/v3/kv/txn`): the calls Hive
/// needs and nothing else. No maintained Swift client of etcd's v3 API exists; the gateway
/// ships with every etcd since 3.3 and speaks plain HTTP/1.1 JSON.
///
/// The gateway's encoding (etcd 3.4 and later): keys and values are base64, 64-bit integers
/// are strings, and fields at their zero value are left out (`succeeded` is absent when a
/// compare failed, `kvs` when a range is empty), so every response field decodes as optional.
struct EtcdGateway: Sendable {
    /// `http://host:port`, tried in order; a call moves to the next one only when it could not
    /// connect, so a call is never sent twice.
    let endpoints: [String]
    let client: HTTPClient = Self.client
    /// How long one call may take before it fails with `.storage` (the core retries later).
    let timeout: TimeAmount

    /// One client for the process, never shut down. A refused connection fails the call at
    /// once (no retries until the deadline), so a dead endpoint costs one refused connect
    /// before the next one is tried.
    private static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(2)
        return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    }()

    // MARK: The gateway's messages

    /// One key's version: `key` and `value` already decoded from base64.
    struct KeyValue: Sendable {
        var key: String
        var value: Data
        var modRevision: Int64
        var createRevision: Int64
    }

    struct Compare: Encodable {
        var key: String
        var range_end: String?
        var target: String
        var result: String
        var mod_revision: String?
        var create_revision: String?
        var value: String?

        /// The key's value is exactly `value` (false if the key is absent).
        static func value(_ key: String, equals value: Data) -> Compare {
            Compare(key: b64(key), target: "VALUE", result: "EQUAL", value: value.base64EncodedString())
        }
        /// The key exists and was last written at `revision`.
        static func modified(_ key: String, at revision: Int64) -> Compare {
            Compare(key: b64(key), target: "MOD", result: "EQUAL", mod_revision: String(revision))
        }
        /// The key is absent.
        static func absent(_ key: String) -> Compare {
            Compare(key: b64(key), target: "CREATE", result: "EQUAL", create_revision: "0")
        }
        /// The key exists.
        static func present(_ key: String) -> Compare {
            Compare(key: b64(key), target: "CREATE", result: "GREATER", create_revision: "0")
        }
        /// No key under `prefix` was written after `revision`.
        static func unchanged(prefix: String, since revision: Int64) -> Compare {
            Compare(
                key: b64(prefix), range_end: b64(prefixEnd(prefix)), target: "MOD", result: "LESS",
                mod_revision: String(revision + 1))
        }
    }

    struct RangeRequest: Encodable {
        var key: String
        var range_end: String?
    }
    struct PutRequest: Encodable {
        var key: String
        var value: String
        /// An etcd lease's id: the key is deleted when the lease expires.
        var lease: String?
    }
    struct Operation: Encodable {
        var request_range: RangeRequest?
        var request_put: PutRequest?
        var request_delete_range: RangeRequest?

        static func get(_ key: String) -> Operation { Operation(request_range: RangeRequest(key: b64(key))) }
        static func list(prefix: String) -> Operation {
            Operation(request_range: RangeRequest(key: b64(prefix), range_end: b64(prefixEnd(prefix))))
        }
        static func put(_ key: String, _ value: Data, lease: Int64? = nil) -> Operation {
            Operation(request_put: PutRequest(key: b64(key), value: value.base64EncodedString(), lease: lease.map(String.init)))
        }
        static func delete(_ key: String) -> Operation {
            Operation(request_delete_range: RangeRequest(key: b64(key)))
        }
        static func delete(prefix: String) -> Operation {
            Operation(request_delete_range: RangeRequest(key: b64(prefix), range_end: b64(prefixEnd(prefix))))
        }
    }

    private struct TxnRequest: Encodable {
        var compare: [Compare]
        var success: [Operation]
        var failure: [Operation]
    }

    struct Header: Decodable { var revision: String? }
    struct RawKeyValue: Decodable {
        var key: String?
        var value: String?
        var mod_revision: String?
        var create_revision: String?
    }
    private struct RangeResponse: Decodable { var kvs: [RawKeyValue]? }
    private struct ResponseOp: Decodable { var response_range: RangeResponse? }
    private struct TxnResponse: Decodable {
        var header: Header?
        var succeeded: Bool?
        var responses: [ResponseOp]?
    }
    struct GatewayError: Decodable {
        var error: String?
        var message: String?
    }

    /// What a transaction did: whether its compares held, the store's revision, and the key
    /// values of each range operation of the branch that ran (in order; empty for puts).
    struct TxnResult: Sendable {
        var succeeded: Bool
        var revision: Int64
        var ranges: [[KeyValue]]
    }

    // MARK: Calls

    /// Runs one transaction: if every compare holds, `success`, else `failure`.
    func txn(_ compare: [Compare], success: [Operation], failure: [Operation] = []) async throws(EtcdCallError)
        -> TxnResult
    {
        let body = try encode(TxnRequest(compare: compare, success: success, failure: failure))
        let data = try await post("/v3/kv/txn", body)
        let response: TxnResponse
        do {
            response = try JSONDecoder().decode(TxnResponse.self, from: data)
        } catch {
            throw .malformed("a txn answer that is not etcd's JSON: \(Self.excerpt(data))")
        }
        guard let revisionText = response.header?.revision, let revision = Int64(revisionText) else {
            throw .malformed("a txn answer without a revision: \(Self.excerpt(data))")
        }
        var ranges: [[KeyValue]] = []
        for op in response.responses ?? [] {
            guard let range = op.response_range else { continue }
            ranges.append(try (range.kvs ?? []).map { raw throws(EtcdCallError) in try Self.keyValue(raw) })
        }
        return TxnResult(succeeded: response.succeeded ?? false, revision: revision, ranges: ranges)
    }

    /// Reads several keys or prefixes at one revision (a transaction without compares).
    func read(_ operations: [Operation]) async throws(EtcdCallError) -> TxnResult {
        try await txn([], success: operations)
    }

    private struct LeaseAnswer: Decodable {
        var ID: String?
        var TTL: String?
    }
    private struct KeepAliveAnswer: Decodable { var result: LeaseAnswer? }

    /// A new lease of `ttlSeconds`; returns its id.
    func grantLease(ttlSeconds: Int) async throws(EtcdCallError) -> Int64 {
        let data = try await post("/v3/lease/grant", Data(#"{"TTL":"\#(ttlSeconds)"}"#.utf8))
        guard let answer = try? JSONDecoder().decode(LeaseAnswer.self, from: data), let id = answer.ID.flatMap(Int64.init)
        else {
            throw .malformed("a lease grant answer without an id: \(Self.excerpt(data))")
        }
        return id
    }

    /// Renews a lease for its TTL; false if it had expired (etcd omits a TTL of 0).
    func keepAlive(lease: Int64) async throws(EtcdCallError) -> Bool {
        let data = try await post("/v3/lease/keepalive", Data(#"{"ID":"\#(lease)"}"#.utf8))
        guard let answer = try? JSONDecoder().decode(KeepAliveAnswer.self, from: data) else {
            throw .malformed("a keep-alive answer that is not etcd's JSON: \(Self.excerpt(data))")
        }
        return (answer.result?.TTL.flatMap(Int.init) ?? 0) > 0
    }

    /// Compacts the store's history up to `revision` (tests; an operator's etcd does it itself).
    func compact(_ revision: Int64) async throws(EtcdCallError) -> Data {
        try await post("/v3/kv/compaction", Data(#"{"revision":"\#(revision)","physical":true}"#.utf8))
    }

    private func post(_ path: String, _ body: Data) async throws(EtcdCallError) -> Data {
        var lastError = EtcdCallError.unreachable("no etcd endpoint is configured")
        for endpoint in endpoints {
            var request = HTTPClientRequest(url: endpoint + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: timeout)
            } catch {
                lastError = .unreachable("etcd at \(endpoint): \(error)")
                if Self.isConnectFailure(error) { continue }
                throw lastError
            }
            let data: Data
            do {
                data = Data(buffer: try await response.body.collect(upTo: Self.maxResponseBytes))
            } catch {
                throw .unreachable("etcd at \(endpoint): reading the answer: \(error)")
            }
            guard response.status == .ok else {
                let detail = (try? JSONDecoder().decode(GatewayError.self, from: data)).flatMap { $0.message ?? $0.error }
                throw .refused("etcd at \(endpoint) answered \(response.status.code): \(detail ?? Self.excerpt(data))")
            }
            return data
        }
        throw lastError
    }

    /// What a watch reports.
    enum WatchEvent: Sendable {
        /// A key was written (deletions are not reported: Hive deletes only with a volume).
        case put(KeyValue)
        /// Nothing changed up to this revision (a progress notification).
        case progress(Int64)
        /// The revision asked for is compacted away, or etcd cancelled the watch: read again.
        case compacted
    }

    private struct WatchLine: Decodable {
        struct Result: Decodable {
            struct Event: Decodable {
                var type: String?
                var kv: RawKeyValue?
            }
            var header: Header?
            var events: [Event]?
            var compact_revision: String?
            var canceled: Bool?
        }
        var result: Result?
        var error: GatewayError?
    }

    /// Watches a prefix from `revision` on, calling `onEvent` for each event in order, until
    /// the stream ends (a returned or thrown end: the caller resumes). One connection per
    /// watch, from a client of its own with no deadline: the gateway cannot cancel a watch but
    /// by closing its connection.
    func watch(prefix: String, from revision: Int64, _ onEvent: (WatchEvent) async -> Void) async throws {
        struct Create: Encodable {
            struct Request: Encodable {
                var key: String
                var range_end: String
                var start_revision: String
                var progress_notify: Bool
            }
            var create_request: Request
        }
        let body = try encode(
            Create(
                create_request: .init(
                    key: Self.b64(prefix), range_end: Self.b64(Self.prefixEnd(prefix)), start_revision: String(revision),
                    progress_notify: true)))
        var lastError: any Error = EtcdCallError.unreachable("no etcd endpoint is configured")
        for endpoint in endpoints {
            var request = HTTPClientRequest(url: endpoint + "/v3/watch")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Grpc-Metadata-hasleader", value: "true")
            request.body = .bytes(ByteBuffer(bytes: body))
            let response: HTTPClientResponse
            do {
                response = try await Self.watchClient.execute(request, deadline: .distantFuture)
            } catch {
                lastError = error
                continue
            }
            guard response.status == .ok else { throw EtcdCallError.refused("etcd at \(endpoint) answered \(response.status.code) to a watch") }
            var pending = Data()
            for try await chunk in response.body {
                pending.append(contentsOf: chunk.readableBytesView)
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = pending[pending.startIndex..<newline]
                    pending = Data(pending[(newline + 1)...])
                    guard !line.isEmpty else { continue }
                    guard let decoded = try? JSONDecoder().decode(WatchLine.self, from: line), let result = decoded.result else {
                        throw EtcdCallError.malformed("a watch line that is not etcd's JSON: \(Self.excerpt(Data(line)))")
                    }
                    if result.canceled == true || (result.compact_revision.flatMap { Int64($0) } ?? 0) > 0 {
                        await onEvent(.compacted)
                        return
                    }
                    let events = result.events ?? []
                    for event in events where (event.type ?? "PUT") == "PUT" {
                        guard let raw = event.kv else { continue }
                        await onEvent(.put(try Self.keyValue(raw)))
                    }
                    if events.isEmpty, let text = result.header?.revision, let revision = Int64(text) {
                        await onEvent(.progress(revision))
                    }
                }
            }
            return
        }
        throw lastError
    }

    /// Watches' own client: no deadline, and a connection each.
    private static let watchClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(2)
        configuration.timeout.read = nil
        return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    }()

    /// The largest answer read: a volume of 2^20 moved blocks lists about 400 MB of records,
    /// far beyond what Hive should hold per volume; 256 MiB bounds memory on a bad answer.
    static let maxResponseBytes = 256 << 20

    private static func isConnectFailure(_ error: any Error) -> Bool {
        // Connection refused and unreachable hosts surface as NIO's socket errors, wrapped by
        // the client's connection pool in versions that differ; their text is stable.
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        if error is NIOConnectionError { return true }
        let text = String(describing: error)
        return text.contains("connectionRefused") || text.contains("Connection refused")
    }

    func encode(_ request: some Encodable) throws(EtcdCallError) -> Data {
        do {
            return try JSONEncoder().encode(request)
        } catch {
            throw .malformed("cannot encode a request: \(error)")
        }
    }

    static func keyValue(_ raw: RawKeyValue) throws(EtcdCallError) -> KeyValue {
        guard let keyText = raw.key, let key = Data(base64Encoded: keyText),
            let revisionText = raw.mod_revision, let revision = Int64(revisionText)
        else { throw .malformed("a key without a name or revision") }
        guard let value = Data(base64Encoded: raw.value ?? "") else {
            throw .malformed("the value of \(String(decoding: key, as: UTF8.self)) is not base64")
        }
        return KeyValue(
            key: String(decoding: key, as: UTF8.self), value: value, modRevision: revision,
            createRevision: raw.create_revision.flatMap { Int64($0) } ?? revision)
    }

    static func excerpt(_ data: Data) -> String {
        let text = String(decoding: data.prefix(200), as: UTF8.self)
        return data.count > 200 ? text + "…" : text
    }

    static func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// The end of a prefix's range: the prefix with its last byte plus one (etcd's rule).
    static func prefixEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.removeLast()
        }
        return "\0"
    }
}

/// Why a gateway call failed.
enum EtcdCallError: Error, Sendable {
    /// No endpoint answered, or the answer was cut off: the call may or may not have run.
    case unreachable(String)
    /// etcd answered with an error (no leader, a bad request, a compacted revision).
    case refused(String)
    /// The answer was not what etcd's gateway sends.
    case malformed(String)

    var message: String {
        switch self {
        case .unreachable(let m), .refused(let m), .malformed(let m): m
        }
    }
}
