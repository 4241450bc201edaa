import Crypto
import Foundation
import LisCore

/// Discovery ("Vesper", DESIGN §5): a node that knows only the cluster's join secret finds the
/// cluster by asking on UDP — the local network's multicast group (`--auto-discover`) or named
/// members (`--join host:port`, for routed networks) — and a member answers with a beacon that
/// says where the cluster's Hive is. Both datagrams carry an HMAC-SHA256 made with the join
/// secret, and the beacon binds the asker's fresh nonce: a node without the secret learns
/// nothing and can make no node adopt its Hive, and a recorded beacon answers no new question.
public enum DiscoveryMessage: Codable, Equatable, Sendable {
    /// "Which cluster is here?", with a fresh nonce the answer must carry.
    case query(nonce: [UInt8])
    case beacon(Beacon)
}

/// A member's answer to a query: the cluster and where its metadata lives.
public struct Beacon: Codable, Equatable, Sendable {
    /// The query's nonce.
    public var nonce: [UInt8]
    public var cluster: String
    public var node: NodeID
    public var region: RegionID
    /// Where the member's peers reach it.
    public var peerAddress: String
    /// The Hive: engine `etcd`, its endpoints and key prefix.
    public var hiveEndpoints: [String]
    public var hivePrefix: String

    public init(
        nonce: [UInt8], cluster: String, node: NodeID, region: RegionID, peerAddress: String, hiveEndpoints: [String],
        hivePrefix: String
    ) {
        self.nonce = nonce
        self.cluster = cluster
        self.node = node
        self.region = region
        self.peerAddress = peerAddress
        self.hiveEndpoints = hiveEndpoints
        self.hivePrefix = hivePrefix
    }
}

/// Why a datagram was not taken. Every one is dropped and counted; none is a crash.
public enum DiscoveryError: Error, Equatable, CustomStringConvertible {
    case tooLarge(Int)
    case malformed(String)
    /// The MAC does not verify: the sender does not know this cluster's secret.
    case wrongSecret

    public var description: String {
        switch self {
        case .tooLarge(let n): "a discovery datagram of \(n) bytes (at most \(DiscoveryCodec.maxDatagramBytes))"
        case .malformed(let why): "a malformed discovery datagram: \(why)"
        case .wrongSecret: "a discovery datagram whose sender does not know the join secret"
        }
    }
}

/// Seals and opens discovery datagrams: `LD`, version 1, the 32-byte MAC, then the message's
/// JSON. The MAC covers the version and the JSON.
public struct DiscoveryCodec: Sendable {
    public static let maxDatagramBytes = 1400
    public static let nonceBytes = 32
    static let magic: [UInt8] = Array("LD".utf8)
    static let version: UInt8 = 1
    static let macBytes = 32

    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// `secret`: the cluster's join secret.
    public init(secret: PeerSecret) {
        // A key of its own, so a discovery MAC is never a valid peer proof or the reverse.
        keyBytes = Array(HMAC<SHA256>.authenticationCode(for: Array("lis discovery".utf8), using: SymmetricKey(data: secret.secret)))
    }

    public static func freshNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<nonceBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    public func seal(_ message: DiscoveryMessage) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Strings, arrays and bytes: encoding cannot fail.
        let json = Array(try! encoder.encode(message))
        let mac = HMAC<SHA256>.authenticationCode(for: [Self.version] + json, using: key)
        return Self.magic + [Self.version] + Array(mac) + json
    }

    public func open(_ datagram: [UInt8]) throws(DiscoveryError) -> DiscoveryMessage {
        guard datagram.count <= Self.maxDatagramBytes else { throw .tooLarge(datagram.count) }
        let header = Self.magic.count + 1 + Self.macBytes
        guard datagram.count > header, Array(datagram.prefix(2)) == Self.magic else { throw .malformed("no LD magic") }
        guard datagram[2] == Self.version else { throw .malformed("version \(datagram[2]); this node speaks \(Self.version)") }
        let mac = Array(datagram[3..<header])
        let json = Array(datagram[header...])
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: [Self.version] + json, using: key) else {
            throw .wrongSecret
        }
        let message: DiscoveryMessage
        do {
            message = try JSONDecoder().decode(DiscoveryMessage.self, from: Data(json))
        } catch {
            throw .malformed("not a discovery message: \(error)")
        }
        let nonce: [UInt8]
        switch message {
        case .query(let asked): nonce = asked
        case .beacon(let beacon): nonce = beacon.nonce
        }
        guard nonce.count == Self.nonceBytes else { throw .malformed("a nonce of \(nonce.count) bytes, not \(Self.nonceBytes)") }
        return message
    }
}
