import ArgumentParser
import Foundation
import LisNode

@main
struct Lis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lis",
        abstract: "Lis: a geo-distributed block store in which data lives where it is used.",
        discussion: """
            Every block of every volume has one holder that orders its writes; when a region keeps \
            writing blocks held far away, it steals their leases, so hot blocks follow their users \
            and cold blocks stay put.
            """,
        version: LisVersion.current,
        subcommands: [Serve.self, Status.self, Volume.self, Block.self, NodeCommand.self, PolicyCommand.self, Cluster.self, Demo.self, Sim.self, Check.self]
    )

    /// Also answers to the name `lis-cluster` (a link to this binary, as packages install it),
    /// with the seed's verbs: `lis-cluster join …` and `lis-cluster run …` are `lis serve …`,
    /// `lis-cluster init|status` are `lis cluster init|status`.
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if CommandLine.arguments.first.map({ URL(fileURLWithPath: $0).lastPathComponent }) == "lis-cluster" {
            arguments = Self.asLisCluster(arguments)
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static func asLisCluster(_ arguments: [String]) -> [String] {
        guard let verb = arguments.first else { return arguments }
        let rest = Array(arguments.dropFirst())
        switch verb {
        case "join", "run": return ["serve"] + rest
        case "init", "status": return ["cluster", verb] + rest
        default: return arguments
        }
    }
}

struct Sim: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the deterministic simulator: the real protocol core on a virtual planet.",
        subcommands: [SimRun.self, SimSwarm.self, SimCompare.self, SimExport.self, SimList.self]
    )
}
