import LisCore

/// The scenarios `Scenario.builtIn(_:seed:)` generates. To add one, write a function from a
/// seed to a `Scenario` below and list it in `all`.
enum BuiltInScenarios {
    /// A generator and the name it is called by.
    struct Entry: Sendable {
        let name: String
        let make: @Sendable (UInt64) -> Scenario
    }

    static let all: [Entry] = [
        Entry(name: "sydney-student", make: sydneyStudent(seed:)),
        Entry(name: "follow-the-sun", make: followTheSun(seed:)),
        Entry(name: "ping-pong", make: pingPong(seed:)),
        Entry(name: "moving-locality", make: movingLocality(seed:)),
        Entry(name: "zipf-global", make: zipfGlobal(seed:)),
        Entry(name: "one-off", make: oneOff(seed:)),
        Entry(name: "pinned", make: pinned(seed:)),
        Entry(name: "region-degraded", make: regionDegraded(seed:)),
    ]

    /// The seed text's example: a VM hosted in NYC boots there, then a student in another
    /// region edits documents on it for ten minutes. A good policy moves the 16 document blocks
    /// to the student's region and leaves the OS blocks, which the student only reads, in NYC.
    /// The seed draws where the student is and which blocks the documents are
    /// (`sydneyStudentLayout(seed:)`), so that no placement rule can be tuned to one of them;
    /// the name stays the seed text's.
    ///
    /// * Regions `nyc` (the volume's home and Hive), the student's region and a third region,
    ///   one node each; both drawn from the topology's regions other than `nyc`.
    /// * 0–60 s, client `vm-boot` in `nyc`: reads blocks 0–255 once in order, in 64 KiB reads
    ///   evenly spaced over [0, 60 000) ms, and 200 random 4 KiB writes within those blocks at
    ///   uniformly random times in the same window.
    /// * 60–660 s, client `student` in the student's region: every 50 ms a 4 KiB write to a
    ///   random document block (16 consecutive blocks after the OS blocks, starting anywhere
    ///   in 256…1008 of the 1024), and every 200 ms a 64 KiB read of a random OS block (0–255).
    ///
    /// Operations at the same time keep this order: boot reads, boot writes, student writes,
    /// student reads (so at t = 60 000, 60 200, … the student's write precedes its read).
    /// Where `sydneyStudent(seed:)` puts the student and the documents.
    struct SydneyStudentLayout: Sendable, Equatable {
        /// The region the student works from; never the volume's home.
        let student: RegionID
        /// The third region, which only holds replicas.
        let bystander: RegionID
        /// The 16 blocks the student writes.
        let documentBlocks: ClosedRange<UInt64>
    }

    static let sydneyStudentVolumeBlocks: UInt64 = 1024
    static let sydneyStudentOSBlocks: UInt64 = 256
    static let sydneyStudentDocumentCount: UInt64 = 16

    /// The layout seed `seed` draws: the student's region uniformly from the default topology's
    /// regions other than `nyc`, the third region from the rest, and the documents' first block
    /// uniformly among those that keep all 16 after the OS blocks and within the volume. Drawn
    /// from the generator's fourth stream, after the three the trace uses, so the trace's other
    /// draws are those of every seed before the layout was drawn.
    static func sydneyStudentLayout(seed: UInt64) -> SydneyStudentLayout {
        var random = SeededRandom(seed: seed)
        for _ in 0..<3 { _ = random.fork() }  // boot writes, student writes, student reads
        var layoutRandom = random.fork()
        var others = DefaultTopology.topology.regions.filter { $0 != nyc }
        let student = others.remove(at: Int(draw(&layoutRandom, below: UInt64(others.count))))
        let bystander = others[Int(draw(&layoutRandom, below: UInt64(others.count)))]
        let starts = sydneyStudentVolumeBlocks - sydneyStudentOSBlocks - sydneyStudentDocumentCount + 1
        let first = sydneyStudentOSBlocks + draw(&layoutRandom, below: starts)
        return SydneyStudentLayout(
            student: student, bystander: bystander, documentBlocks: first...(first + sydneyStudentDocumentCount - 1))
    }

    @Sendable static func sydneyStudent(seed: UInt64) -> Scenario {
        let layout = sydneyStudentLayout(seed: seed)
        let student = layout.student
        let volume = VolumeSpec(
            name: VolumeName("vm-100-disk-0"), sizeBytes: sydneyStudentVolumeBlocks << 20, blockSizeBytes: 1 << 20,
            home: nyc, survive: .node)
        let page: UInt64 = 4096
        let chunk: UInt64 = 64 * 1024
        let osBlocks = sydneyStudentOSBlocks
        let documentBlocks = layout.documentBlocks
        let bootEndUs: UInt64 = 60_000_000
        let studentEndUs: UInt64 = 660_000_000

        func op(_ tUs: UInt64, _ region: RegionID, _ client: String, _ kind: OpKind, _ offset: UInt64, _ length: UInt64)
            -> TraceOp
        {
            TraceOp(
                tMs: Double(tUs) / 1000, region: region, client: client, op: kind, volume: volume.name,
                offset: offset, length: length)
        }

        var random = SeededRandom(seed: seed)
        // One stream per source, so that changing how one source draws leaves the others alone.
        var bootWriteRandom = random.fork()
        var studentWriteRandom = random.fork()
        var studentReadRandom = random.fork()

        let bootReadCount = osBlocks * volume.blockSizeBytes / chunk
        let bootReads = (0..<bootReadCount).map { i in
            op(i * bootEndUs / bootReadCount, nyc, "vm-boot", .read, i * chunk, chunk)
        }
        let bootWrites = (0..<200).map { _ in
            let tUs = draw(&bootWriteRandom, below: bootEndUs)
            let offset = draw(&bootWriteRandom, below: osBlocks * volume.blockSizeBytes / page) * page
            return op(tUs, nyc, "vm-boot", .write, offset, page)
        }
        let studentWrites = stride(from: bootEndUs, to: studentEndUs, by: 50_000).map { tUs in
            let block = documentBlocks.lowerBound + draw(&studentWriteRandom, below: UInt64(documentBlocks.count))
            let pageIndex = draw(&studentWriteRandom, below: volume.blockSizeBytes / page)
            let offset = block * volume.blockSizeBytes + pageIndex * page
            return op(tUs, student, "student", .write, offset, page)
        }
        let studentReads = stride(from: bootEndUs, to: studentEndUs, by: 200_000).map { tUs in
            let block = draw(&studentReadRandom, below: osBlocks)
            let chunkIndex = draw(&studentReadRandom, below: volume.blockSizeBytes / chunk)
            let offset = block * volume.blockSizeBytes + chunkIndex * chunk
            return op(tUs, student, "student", .read, offset, chunk)
        }

        return Scenario(
            name: "sydney-student", topology: DefaultTopology.topology, topologyTOML: DefaultTopology.toml,
            regions: [nyc, layout.bystander, student], nodesPerRegion: 1, hiveRegion: nyc, volumes: [volume],
            trace: mergedByTime([bootReads, bootWrites, studentWrites, studentReads]))
    }

    // Regions of `topology/regions.toml` that the built-in scenarios use.
    static let nyc = RegionID("nyc")
    static let london = RegionID("london")
    static let frankfurt = RegionID("frankfurt")
    static let tokyo = RegionID("tokyo")
    static let sydney = RegionID("sydney")
    static let saopaulo = RegionID("saopaulo")

    /// The policy scenarios read and write one 4 KiB page at a time: the sector size VMs and
    /// NBD clients assume, and small enough that an operation's cost is its round trips, which
    /// is what the policies are judged on.
    static let pageBytes: UInt64 = 4096
    static let blockSizeBytes: UInt64 = 1 << 20

    /// A volume of `blocks` 1 MiB blocks that survives a node (the default).
    static func volume(
        _ name: String, blocks: UInt64, home: RegionID, allowedRegions: [RegionID]? = nil
    ) -> VolumeSpec {
        VolumeSpec(
            name: VolumeName(name), sizeBytes: blocks * blockSizeBytes, blockSizeBytes: blockSizeBytes, home: home,
            survive: .node, allowedRegions: allowedRegions)
    }

    /// A 4 KiB `kind` operation on a uniformly random page of `block`, issued at `tUs`
    /// microseconds. The page is drawn from `random` after any draws the caller made.
    static func pageAccess(
        _ tUs: UInt64, _ region: RegionID, _ client: String, _ kind: OpKind, _ volume: VolumeSpec, block: UInt64,
        random: inout SeededRandom
    ) -> TraceOp {
        precondition(
            block < volume.blockCount, "block \(block) is outside \(volume.name) (\(volume.blockCount) blocks)")
        let page = draw(&random, below: volume.blockSizeBytes / pageBytes)
        return TraceOp(
            tMs: Double(tUs) / 1000, region: region, client: client, op: kind, volume: volume.name,
            offset: block * volume.blockSizeBytes + page * pageBytes, length: pageBytes)
    }

    /// A built-in scenario on the default topology with one node per region and the default
    /// `[migration]` and `[policy]`: the policy under test is chosen by the run, not the scenario.
    static func scenario(
        _ name: String, regions: [RegionID], hiveRegion: RegionID, volumes: [VolumeSpec], trace: [TraceOp],
        latencyChanges: [LatencyChange] = []
    ) -> Scenario {
        Scenario(
            name: name, topology: DefaultTopology.topology, topologyTOML: DefaultTopology.toml, regions: regions,
            nodesPerRegion: 1, hiveRegion: hiveRegion, volumes: volumes, trace: trace, latencyChanges: latencyChanges)
    }

    /// The sources' operations sorted by time; ties keep source order, then order within the
    /// source. The index is part of the key because `sort` does not promise stability.
    static func mergedByTime(_ sources: [[TraceOp]]) -> [TraceOp] {
        sources.joined().enumerated()
            .sorted { ($0.element.tMs, $0.offset) < ($1.element.tMs, $1.offset) }
            .map(\.element)
    }

    /// A number in `0..<bound` (Lemire's multiply-shift, without the rejection step: the bias
    /// is below bound / 2^64). Written out rather than `random(in:using:)`, whose algorithm the
    /// standard library does not promise, so a seed gives the same trace on every toolchain.
    static func draw(_ random: inout SeededRandom, below bound: UInt64) -> UInt64 {
        bound.multipliedFullWidth(by: random.next()).high
    }
}
