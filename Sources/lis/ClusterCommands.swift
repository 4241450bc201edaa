// `lis cluster …`: making a cluster's join secret, and a running cluster's state.

import ArgumentParser
import Foundation
import LisCore
import LisHTTP

struct Cluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a cluster's join secret; show a running cluster.",
        discussion: """
            A cluster is nodes in several regions that share Hive (etcd) and a join secret. Each \
            node's lis.toml names them (docs/CLUSTER.md):

              [hive]    engine = "etcd", endpoints = ["http://HOST:2379"]
              [cluster] name = "NAME", peer_address = "HOST:PORT", secret_file = "PATH"
            """,
        subcommands: [ClusterInit.self, ClusterStatus.self]
    )
}

struct ClusterInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a cluster: its name and its join secret.",
        discussion: """
            Writes 32 random bytes (base64) to the secret file, readable by its owner only, and \
            prints the [cluster] section for every node's lis.toml. Copy the file to every node \
            over a channel you trust: a node proves it knows the secret before its peers accept \
            any message from it. An existing file is never overwritten.

            Also writes the cluster's API token (derived from the secret, so every node accepts \
            it) to the token file: a node whose HTTP API listens outside loopback requires it, \
            from `lis --token-file FILE …` and from the dashboard (open \
            http://NODE:7780/#token=TOKEN once).
            """
    )

    @Option(name: .long, help: "The cluster's name; peers of another cluster are refused.")
    var name: String = "lis"

    @Option(name: .customLong("secret-file"), help: "Where to write the join secret.")
    var secretFile: String = "./lis-cluster.secret"

    @Option(name: .customLong("token-file"), help: "Where to write the API token.")
    var tokenFile: String = "./lis-api.token"

    func validate() throws {
        if let problem = RegionID.problem(with: name) { throw ValidationError("--name \(problem)") }
    }

    func run() throws {
        for file in [secretFile, tokenFile] where FileManager.default.fileExists(atPath: file) {
            throw ValidationError("\(file) exists; remove it first if you mean to make a new cluster secret")
        }
        var generator = SystemRandomNumberGenerator()
        let secret = Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
        guard FileManager.default.createFile(atPath: secretFile, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw ValidationError("cannot write \(secretFile)") }
        let path = URL(fileURLWithPath: secretFile).standardizedFileURL.path
        let token = AccessPolicy.token(fromSecret: Array(secret.utf8))
        guard FileManager.default.createFile(atPath: tokenFile, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw ValidationError("cannot write \(tokenFile)") }
        let tokenPath = URL(fileURLWithPath: tokenFile).standardizedFileURL.path
        print("""
            wrote the join secret of cluster \(name) to \(path)
            wrote its API token to \(tokenPath) (lis --token-file \(tokenPath) …; the dashboard: http://NODE:7780/#token=…)
            add to every node's lis.toml (with its own peer address):

            [cluster]
            name = "\(name)"
            peer_address = "THIS-NODE:7781"
            secret_file = "\(path)"

            [hive]
            engine = "etcd"
            endpoints = ["http://ETCD-HOST:2379"]
            """)
    }
}

struct ClusterStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Nodes, regions, measured round trips, leases and peers, as a node sees them."
    )

    @OptionGroup var options: APIOptions

    @Flag(name: .long, help: "Print the API's JSON.")
    var json = false

    func run() async throws {
        let info = try await options.client.send("GET", "/v1/cluster", expecting: ClusterInfo.self)
        if json {
            try printJSON(info)
            return
        }
        print("cluster \(info.cluster ?? "(one node, no peers)"), Hive \(info.hive); seen from \(info.node_id) in \(info.region)")
        var rows = [["NODE", "REGION", "ADDRESS", "HOME", "STATE", "MOVED BLOCKS HELD"]]
        for m in info.members {
            rows.append([
                m.node_id, m.region, m.address ?? "–", m.home ? "yes" : "", m.lapsed ? "lapsed" : "alive",
                String(m.moved_blocks_held),
            ])
        }
        print(Table.render(rows))
        if !info.measured_rtt_ms.isEmpty {
            let rtts = info.measured_rtt_ms.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1f", $0.value)) ms" }
            print("round trips from \(info.region): " + rtts.joined(separator: ", "))
        }
        print("this node serves \(info.held_blocks) blocks; \(info.steals_in_flight) steals in flight")
        if let p = info.peers {
            print(
                "peers: \(p.sent) sent, \(p.delivered) received, \(p.authenticated) connections authenticated; "
                    + "refused: \(p.unauthenticated) unauthenticated, \(p.malformed) malformed, \(p.wrong_sender) wrong sender; "
                    + "\(p.dropped) dropped")
        }
        let w = info.in_flight
        print(
            "waiting on: \(w.nbd_commands) NBD commands, \(w.forwards) forwards, \(w.hive_calls) Hive calls "
                + "(\(w.hive_lookups) lookups, \(w.parked_for_hive) operations parked), \(w.queued_behind_steals) operations "
                + "behind steals, \(w.pending_writes) writes and \(w.pending_reads) reads on Q2, \(w.pending_flushes) flushes")
    }
}
