import ArgumentParser

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
        subcommands: [Serve.self, Volume.self, Cluster.self, Demo.self, Sim.self, Check.self]
    )
}

struct Sim: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the deterministic simulator: the real protocol core on a virtual planet.",
        subcommands: [SimRun.self, SimSwarm.self, SimCompare.self, SimExport.self, SimList.self]
    )
}
