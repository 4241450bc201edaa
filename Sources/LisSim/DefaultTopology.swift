import LisCore

/// The built-in region latency matrix: a copy of `topology/regions.toml` at the package root
/// (AWS inter-region pings). A scenario that names no topology file uses it, and
/// `lis sim export` writes it out, so the text here must stay byte-identical to that file
/// (a test compares them).
public enum DefaultTopology {
    /// The TOML text, byte for byte as in `topology/regions.toml`.
    public static let toml: String = #"""
        # Round-trip times between regions, in milliseconds, for simulation and WAN emulation.
        # Source: the 2017 table "Latency Between AWS Global Regions" (average ping, ms), as
        # republished at acomputerscientistlearnsaws.blogspot.com/2017/04/aws-regions.html.
        # Each link is the mean of its two directions. Our names stand for these sites:
        #   nyc        US East (N. Virginia)
        #   sfo        US West (N. California)
        #   oregon     US West (Oregon)
        #   london     EU (Ireland)   (the nearest measured site to London)
        #   frankfurt  EU (Frankfurt)
        #   tokyo      Asia Pacific (Tokyo)
        #   seoul      Asia Pacific (Seoul)
        #   singapore  Asia Pacific (Singapore)
        #   sydney     Asia Pacific (Sydney)
        #   saopaulo   South America (Sao Paulo)

        # Within one region (between availability zones): 0.25-3.4 ms measured (xkyle.com,
        # 'Measuring AWS Region and AZ Latency'); we use 0.5 ms.
        intra_region_rtt_ms = 0.5

        [[link]]
        a = "nyc"
        b = "sfo"
        rtt_ms = 72.2

        [[link]]
        a = "nyc"
        b = "oregon"
        rtt_ms = 87.8

        [[link]]
        a = "nyc"
        b = "london"
        rtt_ms = 80.5

        [[link]]
        a = "nyc"
        b = "frankfurt"
        rtt_ms = 88.6

        [[link]]
        a = "nyc"
        b = "tokyo"
        rtt_ms = 145.3

        [[link]]
        a = "nyc"
        b = "seoul"
        rtt_ms = 177.5

        [[link]]
        a = "nyc"
        b = "singapore"
        rtt_ms = 216.7

        [[link]]
        a = "nyc"
        b = "sydney"
        rtt_ms = 229.8

        [[link]]
        a = "nyc"
        b = "saopaulo"
        rtt_ms = 119.5

        [[link]]
        a = "sfo"
        b = "oregon"
        rtt_ms = 19.3

        [[link]]
        a = "sfo"
        b = "london"
        rtt_ms = 153.2

        [[link]]
        a = "sfo"
        b = "frankfurt"
        rtt_ms = 166.6

        [[link]]
        a = "sfo"
        b = "tokyo"
        rtt_ms = 102.5

        [[link]]
        a = "sfo"
        b = "seoul"
        rtt_ms = 132.1

        [[link]]
        a = "sfo"
        b = "singapore"
        rtt_ms = 173.9

        [[link]]
        a = "sfo"
        b = "sydney"
        rtt_ms = 157.7

        [[link]]
        a = "sfo"
        b = "saopaulo"
        rtt_ms = 192.7

        [[link]]
        a = "oregon"
        b = "london"
        rtt_ms = 137.0

        [[link]]
        a = "oregon"
        b = "frankfurt"
        rtt_ms = 159.5

        [[link]]
        a = "oregon"
        b = "tokyo"
        rtt_ms = 89.1

        [[link]]
        a = "oregon"
        b = "seoul"
        rtt_ms = 118.2

        [[link]]
        a = "oregon"
        b = "singapore"
        rtt_ms = 161.4

        [[link]]
        a = "oregon"
        b = "sydney"
        rtt_ms = 162.1

        [[link]]
        a = "oregon"
        b = "saopaulo"
        rtt_ms = 182.7

        [[link]]
        a = "london"
        b = "frankfurt"
        rtt_ms = 19.6

        [[link]]
        a = "london"
        b = "tokyo"
        rtt_ms = 212.4

        [[link]]
        a = "london"
        b = "seoul"
        rtt_ms = 242.4

        [[link]]
        a = "london"
        b = "singapore"
        rtt_ms = 238.6

        [[link]]
        a = "london"
        b = "sydney"
        rtt_ms = 309.6

        [[link]]
        a = "london"
        b = "saopaulo"
        rtt_ms = 191.3

        [[link]]
        a = "frankfurt"
        b = "tokyo"
        rtt_ms = 236.6

        [[link]]
        a = "frankfurt"
        b = "seoul"
        rtt_ms = 265.8

        [[link]]
        a = "frankfurt"
        b = "singapore"
        rtt_ms = 325.9

        [[link]]
        a = "frankfurt"
        b = "sydney"
        rtt_ms = 323.4

        [[link]]
        a = "frankfurt"
        b = "saopaulo"
        rtt_ms = 194.9

        [[link]]
        a = "tokyo"
        b = "seoul"
        rtt_ms = 31.4

        [[link]]
        a = "tokyo"
        b = "singapore"
        rtt_ms = 73.8

        [[link]]
        a = "tokyo"
        b = "sydney"
        rtt_ms = 103.9

        [[link]]
        a = "tokyo"
        b = "saopaulo"
        rtt_ms = 256.8

        [[link]]
        a = "seoul"
        b = "singapore"
        rtt_ms = 71.6

        [[link]]
        a = "seoul"
        b = "sydney"
        rtt_ms = 134.0

        [[link]]
        a = "seoul"
        b = "saopaulo"
        rtt_ms = 286.3

        [[link]]
        a = "singapore"
        b = "sydney"
        rtt_ms = 175.4

        [[link]]
        a = "singapore"
        b = "saopaulo"
        rtt_ms = 328.1

        [[link]]
        a = "sydney"
        b = "saopaulo"
        rtt_ms = 322.5

        """#

    /// `toml`, parsed. Parsed once: the text is a constant, so a failure is a defect in this
    /// file, not bad input.
    public static var topology: Topology { parsed }

    private static let parsed: Topology = {
        do {
            return try Topology.parse(toml: toml)
        } catch {
            preconditionFailure("DefaultTopology.toml does not parse: \(error)")
        }
    }()
}
