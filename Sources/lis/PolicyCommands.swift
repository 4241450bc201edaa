// `lis policy …`: the placement policy's switch, over a node's HTTP API.

import ArgumentParser
import Foundation
import LisHTTP

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Show the placement policy, or pause and resume it on every node.",
        discussion: """
            Talks to any node's HTTP API (--api URL or LIS_API; default 127.0.0.1:7780). While placement \
            is paused no node starts a move of its own: blocks stay where they are, whatever their \
            users do. A holder that stops is still taken over, and `lis block move` still moves \
            blocks. The switch is kept in Hive: it holds across restarts until `lis policy resume`.
            """,
        subcommands: [PolicyStatus.self, PolicyPause.self, PolicyResume.self],
        defaultSubcommand: PolicyStatus.self
    )
}

struct PolicyStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Say which policy runs and whether it is paused.")

    @OptionGroup var options: APIOptions

    @Flag(name: .long, help: "Print the API's JSON instead of a sentence.")
    var json = false

    func run() async throws {
        let info = try await options.client.send("GET", "/v1/policy", expecting: PolicyInfo.self)
        if json {
            try printJSON(info)
        } else {
            print("policy \(info.policy): \(info.paused ? "paused (no node starts a move of its own)" : "running")")
        }
    }
}

struct PolicyPause: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Stop every node from starting moves of its own (before maintenance, or to look).")

    @OptionGroup var options: APIOptions

    func run() async throws {
        let info = try await options.client.send("PUT", "/v1/policy", body: SetPolicyRequest(paused: true), expecting: PolicyInfo.self)
        print("policy \(info.policy) paused on every node (each reads the switch from Hive within about a second)")
    }
}

struct PolicyResume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Let the placement policy move blocks again.")

    @OptionGroup var options: APIOptions

    func run() async throws {
        let info = try await options.client.send("PUT", "/v1/policy", body: SetPolicyRequest(paused: false), expecting: PolicyInfo.self)
        print("policy \(info.policy) running again")
    }
}
