import Crypto
import Foundation
import LisCore
import NIOCore
import NIOFoundationCompat

/// Peers prove they know the cluster's join secret before any protocol message (a mutual
/// challenge-response with HMAC-SHA256): each side sends a `hello` with a fresh 32-byte nonce,
/// and answers the other's nonce with a `proof`. A connection that sends anything else first,
/// or a wrong proof, is closed. The secret never crosses the network, and a recorded proof is
/// worthless against a new nonce.
///
/// The proof binds the cluster, the prover's node id and both nonces, so a proof cannot be
/// reflected back to its verifier or replayed for another node.
public struct PeerHello: Codable, Equatable, Sendable {
    public var cluster: String
    public var node: NodeID
    public var region: RegionID
    public var nonce: [UInt8]

    public init(cluster: String, node: NodeID, region: RegionID, nonce: [UInt8]) {
        self.cluster = cluster
        self.node = node
        self.region = region
        self.nonce = nonce
    }

    public static let nonceBytes = 32

    public static func fresh(cluster: String, node: NodeID, region: RegionID) -> PeerHello {
        var generator = SystemRandomNumberGenerator()
        return PeerHello(
            cluster: cluster, node: node, region: region,
            nonce: (0..<nonceBytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    public var frame: PeerFrame {
        // Strings and bytes: encoding cannot fail.
        PeerFrame(kind: .hello, body: ByteBuffer(bytes: try! JSONEncoder().encode(self)))
    }

    public init(frame: PeerFrame) throws(PeerFrameError) {
        guard frame.kind == .hello else { throw .malformedBody("expected a hello, got a \(frame.kind) frame") }
        do {
            self = try JSONDecoder().decode(PeerHello.self, from: Data(buffer: frame.body))
        } catch {
            throw .malformedBody("not a hello: \(error)")
        }
        guard nonce.count == Self.nonceBytes else { throw .malformedBody("a hello nonce of \(nonce.count) bytes") }
    }
}

/// The join secret and the proofs made with it.
public struct PeerSecret: Sendable {
    let secret: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: secret) }

    /// `secret`: the cluster's join secret (at least 16 bytes; `lis cluster init` makes 32
    /// random ones).
    public init(_ secret: [UInt8]) throws(PeerFrameError) {
        guard secret.count >= 16 else { throw .malformedBody("a join secret must have at least 16 bytes") }
        self.secret = secret
    }

    /// The proof that `prover` knows the secret, answering `verifier`'s hello.
    public func proof(by prover: PeerHello, for verifier: PeerHello) -> PeerFrame {
        let mac = HMAC<SHA256>.authenticationCode(for: Self.message(prover: prover, verifier: verifier), using: key)
        return PeerFrame(kind: .proof, body: ByteBuffer(bytes: Array(mac)))
    }

    /// Whether `frame` proves that the sender of `prover` knows the secret, answering the hello
    /// this node sent (`verifier`). Compared in constant time.
    public func verify(_ frame: PeerFrame, prover: PeerHello, verifier: PeerHello) -> Bool {
        guard frame.kind == .proof, prover.cluster == verifier.cluster, prover.node != verifier.node else {
            return false
        }
        return HMAC<SHA256>.isValidAuthenticationCode(
            Array(buffer: frame.body), authenticating: Self.message(prover: prover, verifier: verifier), using: key)
    }

    private static func message(prover: PeerHello, verifier: PeerHello) -> [UInt8] {
        var message = Array("lis-peer-proof-v1".utf8)
        for part in [prover.cluster, prover.node.name, prover.region.name] {
            message.append(contentsOf: part.utf8)
            message.append(0)
        }
        message.append(contentsOf: verifier.nonce)
        message.append(contentsOf: prover.nonce)
        return message
    }
}
