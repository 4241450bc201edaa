// `lis node …`: draining a node before maintenance, and undraining it after.

import ArgumentParser
import Foundation
import LisHTTP

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Drain a node before maintenance; undrain it after.",
        subcommands: [NodeDrain.self, NodeUndrain.self, NodeShow.self]
    )
}

struct NodeDrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Move every lease a node holds to other nodes, and keep new ones away.",
        discussion: """
            Marks the node drained in Hive (every node follows within a second): no block moves \
            to it and it starts no move of its own. Then other nodes steal each block it holds — \
            a node of its own region if one is alive there, else the nearest region each volume \
            may use — recorded in the move log as an operator's move. The command waits until it \
            holds nothing, printing progress, for at most --wait seconds (0: do not wait). Its \
            clients' I/O still works, through the new holders. Example: lis node drain london-1. \
            Undo with lis node undrain london-1.
            """
    )

    @OptionGroup var options: APIOptions

    @Argument(help: "The node's id (lis cluster status lists them).")
    var node: String

    @Option(name: .long, help: "How long to wait until the node holds no block, in seconds (0: ask and return).")
    var wait: Double = 120

    func validate() throws {
        guard wait >= 0, wait.isFinite else { throw ValidationError("--wait must be a number of seconds ≥ 0") }
    }

    func run() async throws {
        let client = options.client
        let started = try await client.send("POST", "/v1/nodes/\(node)/drain", body: [String: String](), expecting: NodeDrainInfo.self)
        let takers = started.moving.sorted { $0.key < $1.key }.map { "\($0.value) to \($0.key)" }.joined(separator: ", ")
        print("draining \(node): it holds \(started.held_blocks) blocks\(takers.isEmpty ? "" : "; moving \(takers)")")
        guard wait > 0 else { return }
        let deadline = Date().addingTimeInterval(wait)
        var reported = -1
        while true {
            let now = try await client.send("GET", "/v1/nodes/\(node)", expecting: NodeDrainInfo.self)
            if now.held_blocks != reported {
                FileHandle.standardError.write(Data("  \(node) holds \(now.held_blocks) blocks\n".utf8))
                reported = now.held_blocks
            }
            if now.held_blocks == 0 {
                print("done: \(node) holds no block and stays drained until lis node undrain \(node)")
                return
            }
            if Date() >= deadline {
                print("after \(Int(wait)) s \(node) still holds \(now.held_blocks) blocks; they may still move (lis node show \(node))")
                throw ExitCode(1)
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}

struct NodeUndrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undrain",
        abstract: "Let blocks move to a drained node again.",
        discussion: "Blocks do not move back by themselves at once: the policy brings them back as its clients use them."
    )

    @OptionGroup var options: APIOptions

    @Argument(help: "The node's id.")
    var node: String

    func run() async throws {
        let info = try await options.client.send("POST", "/v1/nodes/\(node)/undrain", body: [String: String](), expecting: NodeDrainInfo.self)
        print("\(info.node) is no longer drained; it holds \(info.held_blocks) blocks")
    }
}

struct NodeShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Whether a node is drained and how many blocks it holds.")

    @OptionGroup var options: APIOptions

    @Argument(help: "The node's id.")
    var node: String

    @Flag(name: .long, help: "Print the JSON answer.")
    var json = false

    func run() async throws {
        let info = try await options.client.send("GET", "/v1/nodes/\(node)", expecting: NodeDrainInfo.self)
        if json {
            try printJSON(info)
        } else {
            print("\(info.node) in \(info.region): \(info.drained ? "drained" : "not drained"), holds \(info.held_blocks) blocks")
        }
    }
}

/// `lis status`: the node the CLI talks to, as `GET /v1/status` shows it.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the node: its identity, where it serves NBD, its volumes and its data directory's disk.")

    @OptionGroup var options: APIOptions

    @Flag(name: .long, help: "Print the API's JSON instead of lines.")
    var json = false

    func run() async throws {
        let s = try await options.client.send("GET", "/v1/status", expecting: NodeStatus.self)
        if json { return try printJSON(s) }
        var rows = [
            ["node", "\(s.node_id) in region \(s.region) (lis \(s.version), up \(Int(s.uptime_seconds)) s)"],
            ["hive", s.hive], ["nbd", [s.nbd_unix_socket, s.nbd_tcp_address].compactMap { $0 }.joined(separator: ", ")],
            ["api", s.http_address], ["volumes", String(s.volumes)], ["held blocks", String(s.held_blocks)],
            ["connections", String(s.open_connections)], ["data", s.data_dir],
        ]
        if let d = s.disk {
            rows.append([
                "disk", "\(Self.gib(d.used_bytes)) used, \(Self.gib(d.available_bytes)) available of \(Self.gib(d.total_bytes))",
            ])
        }
        print(Table.render(rows), terminator: "")
    }

    static func gib(_ bytes: UInt64) -> String { String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
}
