import Foundation
import LisCore
import Testing

/// The package root: this file is `<root>/Tests/LisCoreTests/TopologyTests.swift`.
private let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let projectTopology = packageRoot.appendingPathComponent("topology/regions.toml")

private func topologyError(_ toml: String) -> ConfigError? {
    do {
        _ = try Topology.parse(toml: toml)
        return nil
    } catch {
        return error
    }
}

@Suite struct TopologyFileTests {
    @Test func regionsFileParses() throws {
        let topology = try Topology.parse(toml: String(contentsOf: projectTopology, encoding: .utf8))
        let names = ["frankfurt", "london", "nyc", "oregon", "saopaulo", "seoul", "sfo", "singapore", "sydney", "tokyo"]
        #expect(topology.regions == names.map(RegionID.init))
        #expect(topology.intraRegionRTTms == 0.5)
        #expect(topology.rttMs(RegionID("nyc"), RegionID("sydney")) == 229.8)
        #expect(topology.rttMs(RegionID("sydney"), RegionID("nyc")) == 229.8)
        #expect(topology.rttMs(RegionID("london"), RegionID("frankfurt")) == 19.6)
        #expect(topology.rttMs(RegionID("tokyo"), RegionID("tokyo")) == 0.5)
        #expect(topology.links.count == 45)
        for a in topology.regions {
            for b in topology.regions {
                #expect(topology.rttMs(a, b) != nil)
                #expect(topology.rttMs(a, b) == topology.rttMs(b, a))
            }
        }
        try topology.validate(covering: topology.regions)
    }
}

@Suite struct TopologyTests {
    private let nyc = RegionID("nyc")
    private let london = RegionID("london")
    private let sydney = RegionID("sydney")

    @Test func linksAreSymmetricAndListedSorted() {
        let topology = Topology(intraRegionRTTms: 1, links: [(sydney, nyc, 230), (nyc, london, 80)])
        #expect(topology.regions == [london, nyc, sydney])
        #expect(topology.rttMs(nyc, sydney) == 230)
        #expect(topology.rttMs(sydney, nyc) == 230)
        #expect(topology.rttMs(london, sydney) == nil)
        #expect(topology.rttMs(RegionID("mars"), RegionID("mars")) == 1)
        #expect(topology.links.map { "\($0.a)-\($0.b)=\($0.rttMs)" } == ["london-nyc=80.0", "nyc-sydney=230.0"])
    }

    @Test func parseEqualsTheSameTopologyBuiltInCode() throws {
        let parsed = try Topology.parse(
            toml: """
                intra_region_rtt_ms = 2
                [[link]]
                a = "sydney"
                b = "nyc"
                rtt_ms = 230
                [[link]]
                a = "nyc"
                b = "london"
                rtt_ms = 80.5
                """)
        #expect(parsed == Topology(intraRegionRTTms: 2, links: [(nyc, sydney, 230), (london, nyc, 80.5)]))
    }

    @Test func oneRegionNeedsNoLinks() throws {
        let topology = try Topology.parse(toml: "intra_region_rtt_ms = 0.5")
        #expect(topology.regions.isEmpty)
        try topology.validate(covering: [nyc])
    }

    @Test func validateNamesTheFirstMissingPairInSortedOrder() {
        let topology = Topology(intraRegionRTTms: 1, links: [(nyc, london, 80)])
        #expect(throws: Never.self) { try topology.validate(covering: [nyc, london, nyc]) }
        #expect {
            try topology.validate(covering: [sydney, nyc, london])
        } throws: { error in
            (error as? ConfigError)?.message.hasPrefix("has no entry between london and sydney;") == true
        }
    }

    private static let link = "intra_region_rtt_ms = 1\n[[link]]\na = \"nyc\"\nb = \"london\"\nrtt_ms = 80\n"

    @Test(arguments: [
        ("", "intra_region_rtt_ms", "is missing; it must be a number of milliseconds > 0"),
        ("intra_region_rtt_ms = 0", "intra_region_rtt_ms", "must be a number of milliseconds > 0, got 0"),
        ("intra_region_rtt_ms = \"1\"", "intra_region_rtt_ms", #"got "1""#),
        ("intra_region_rtt_ms = 1\nregions = 3", "regions", "allowed: intra_region_rtt_ms, link"),
        ("intra_region_rtt_ms = 1\n[link]\na = \"x\"", "link", "must be an array of tables ([[link]])"),
        (link + "[[link]]\na = \"nyc\"\nb = \"sydney\"\nrtt_ms = 0", "link[1].rtt_ms",
         "must be a number of milliseconds > 0, got 0"),
        (link + "[[link]]\na = \"nyc\"\nb = \"sydney\"\nrtt_ms = -3", "link[1].rtt_ms", "got -3"),
        (link + "[[link]]\na = \"nyc\"\nb = \"sydney\"", "link[1].rtt_ms", "is missing"),
        (link + "[[link]]\nb = \"sydney\"\nrtt_ms = 3", "link[1].a", "is missing"),
        (link + "[[link]]\na = \"nyc\"\nrtt_ms = 3", "link[1].b", "is missing"),
        (link + "[[link]]\na = \"nyc\"\nb = 7\nrtt_ms = 3", "link[1].b", "got 7"),
        (link + "[[link]]\na = \"nyc\"\nb = \"nyc\"\nrtt_ms = 3", "link[1].b", "must differ from a"),
        (link + "[[link]]\na = \"nyc\"\nb = \"london\"\nrtt_ms = 3", "link[1]", "link[0] already does"),
        (link + "[[link]]\na = \"london\"\nb = \"nyc\"\nrtt_ms = 3", "link[1]", "joins london and nyc again"),
        (link + "[[link]]\na = \"nyc\"\nb = \"sydney\"\nrtt_ms = 3\nloss = 0.1", "link[1].loss",
         "allowed: a, b, rtt_ms"),
    ])
    func badFilesNameTheKey(toml: String, key: String, fragment: String) {
        let error = topologyError(toml)
        #expect(error?.key == key, "\(String(describing: error))")
        #expect(error?.message.contains(fragment) == true, "\(String(describing: error))")
    }

    @Test func syntaxErrorCarriesItsLine() {
        let error = topologyError("intra_region_rtt_ms = 1\n[[link]]\na = nyc\n")
        #expect(error?.line == 3)
    }
}
