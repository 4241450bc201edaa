import Foundation
import LisCore
import LisWire
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// UDP discovery (`LisWire.DiscoveryMessage`): a member answers queries with a beacon naming the
/// cluster's Hive; a joiner asks until a member answers. Datagrams are few and small, so both
/// sides use a plain blocking socket on a thread of their own, never the event loops.
public enum Discovery {
    /// The multicast group queries go to on the local network (organisation-local scope).
    public static let group = "239.255.76.73"
    public static let defaultPort = 7790

    /// What a joiner learned: the beacon of the member that answered first.
    public struct Found: Sendable {
        public var beacon: Beacon
        public var from: String
    }

    /// Asks until a member of the cluster answers or `timeout` passes: every 500 ms a fresh
    /// query to the multicast group on `interface` (an address of this host; its network is the
    /// one searched) and to each of `targets` (`host:port`, members on routed networks).
    /// Datagrams that do not verify with the secret are counted in `refused`.
    public static func find(
        codec: DiscoveryCodec, interface: String, port: Int, multicast: Bool, targets: [(String, Int)],
        timeout: Swift.Duration, logger: Logger
    ) async throws(NodeStartError) -> Found {
        let socket = try UDPSocket(bindHost: interface, port: 0)
        if multicast { try socket.setMulticastInterface(interface) }
        defer { socket.close() }
        return try await withCheckedContinuation { (continuation: CheckedContinuation<Result<Found, NodeStartError>, Never>) in
            Thread.detachNewThread {
                let deadline = ContinuousClock.now + timeout
                var refused = 0
                while ContinuousClock.now < deadline {
                    let nonce = DiscoveryCodec.freshNonce()
                    let query = codec.seal(.query(nonce: nonce))
                    if multicast { socket.send(query, to: group, port: port) }
                    for (host, targetPort) in targets { socket.send(query, to: host, port: targetPort) }
                    let round = ContinuousClock.now + .milliseconds(500)
                    while ContinuousClock.now < round, let (datagram, from) = socket.receive(timeoutMs: 100) {
                        guard case .beacon(let beacon)? = try? codec.open(datagram) else {
                            if (try? codec.open(datagram)) == nil { refused += 1 }
                            continue
                        }
                        guard beacon.nonce == nonce else { continue }  // an answer to an older query
                        continuation.resume(returning: .success(Found(beacon: beacon, from: from)))
                        return
                    }
                }
                let why =
                    refused > 0
                    ? "\(refused) answers did not prove the join secret (another cluster's, or a different secret file)"
                    : "no member answered"
                continuation.resume(
                    returning: .failure(
                        NodeStartError(
                            "found no cluster within \(timeout) (\(why)); asked "
                                + ([multicast ? "multicast group \(group):\(port) on \(interface)" : nil]
                                    + targets.map { "\($0.0):\($0.1)" }).compactMap { $0 }.joined(separator: ", "))))
            }
        }.get()
    }

    /// Answers queries on `port` (multicast on `interface`'s network, and unicast) with this
    /// node's beacon, until `stop`. Queries that do not verify are dropped and counted.
    public final class Responder: Sendable {
        let socket: UDPSocket
        let stopped = Atomic<Bool>(false)
        public let answered = Atomic<Int>(0)
        public let refused = Atomic<Int>(0)

        public init(
            codec: DiscoveryCodec, interface: String, port: Int, beacon: @escaping @Sendable ([UInt8]) -> Beacon,
            logger: Logger
        ) throws(NodeStartError) {
            // Every node of a machine listens on the port (tests and demos run several).
            socket = try UDPSocket(bindHost: "0.0.0.0", port: port, reuse: true)
            try socket.joinGroup(Discovery.group, interface: interface)
            let socket = self.socket
            Thread.detachNewThread { [self] in
                while !stopped.load(ordering: .relaxed) {
                    guard let (datagram, from) = socket.receive(timeoutMs: 250) else { continue }
                    switch Result(catching: { () throws(DiscoveryError) in try codec.open(datagram) }) {
                    case .success(.query(let nonce)):
                        guard let (host, port) = try? NodeSettings.hostPort(from) else { continue }
                        socket.send(codec.seal(.beacon(beacon(nonce))), to: host, port: port)
                        answered.add(1, ordering: .relaxed)
                    case .success(.beacon):
                        continue  // another member's answer to a joiner
                    case .failure(let error):
                        // Logged, but not so often that a flood of datagrams floods the log.
                        let count = refused.add(1, ordering: .relaxed).newValue
                        if count <= 10 || count % 1000 == 0 {
                            logger.notice("discovery: dropped a datagram from \(from) (\(count) so far): \(error)")
                        }
                    }
                }
                socket.close()
            }
        }

        public func stop() { stopped.store(true, ordering: .relaxed) }
    }
}

/// A blocking IPv4 UDP socket: what discovery needs and no more.
final class UDPSocket: @unchecked Sendable {
    private let fd: Int32
    private let closed = Atomic<Bool>(false)

    init(bindHost: String, port: Int, reuse: Bool = false) throws(NodeStartError) {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw NodeStartError("discovery: cannot open a UDP socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        if reuse {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = try Self.address(bindHost, port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            throw NodeStartError("discovery: cannot listen on UDP \(bindHost):\(port): \(why)")
        }
    }

    static func address(_ host: String, _ port: Int) throws(NodeStartError) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw NodeStartError("discovery needs an IPv4 address, not \(host)")
        }
        return address
    }

    /// Multicast leaves through the interface that has this address, and comes back to this
    /// host's own listeners too (several nodes on one machine).
    func setMulticastInterface(_ interface: String) throws(NodeStartError) {
        var address = try Self.address(interface, 0).sin_addr
        setsockopt(fd, Int32(IPPROTO_IP), IP_MULTICAST_IF, &address, socklen_t(MemoryLayout<in_addr>.size))
        var loop: UInt8 = 1
        setsockopt(fd, Int32(IPPROTO_IP), IP_MULTICAST_LOOP, &loop, 1)
    }

    func joinGroup(_ group: String, interface: String) throws(NodeStartError) {
        var request = ip_mreq(imr_multiaddr: try Self.address(group, 0).sin_addr, imr_interface: try Self.address(interface, 0).sin_addr)
        guard setsockopt(fd, Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, &request, socklen_t(MemoryLayout<ip_mreq>.size)) == 0 else {
            throw NodeStartError(
                "discovery: cannot join multicast group \(group) on \(interface): \(String(cString: strerror(errno)))")
        }
    }

    func send(_ bytes: [UInt8], to host: String, port: Int) {
        guard var address = try? Self.address(host, port) else { return }
        _ = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// The next datagram and its sender (`host:port`), or nil after `timeoutMs`.
    func receive(timeoutMs: Int) -> ([UInt8], String)? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeoutMs)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: DiscoveryCodec.maxDatagramBytes + 1)
        var from = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let count = buffer.withUnsafeMutableBytes { bytes in
            withUnsafeMutablePointer(to: &from) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, bytes.baseAddress, bytes.count, 0, $0, &length) }
            }
        }
        guard count >= 0 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &from.sin_addr, &text, socklen_t(INET_ADDRSTRLEN))
        let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (Array(buffer.prefix(count)), "\(host):\(UInt16(bigEndian: from.sin_port))")
    }

    func close() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        Glibc.close(fd)
    }
}
