@testable import LisCore
import Testing

/// A real cluster's membership grows while it runs: joiners are appended in the order they
/// registered, so no region's home node (the holder of never-moved blocks) ever changes.
@Suite struct MembershipTests {
    let nyc = RegionID("nyc")
    let london = RegionID("london")
    let volume = VolumeSpec(name: VolumeName("vm"), sizeBytes: 16 << 20, blockSizeBytes: 1 << 20, home: RegionID("nyc"))

    @Test func joinOrderKeepsTheHomeNodeWhileTheSimulatorSortsById() {
        let nodes = [(NodeID("nyc-b"), nyc), (NodeID("nyc-a"), nyc)]
        let joined = ClusterMap(nodes: nodes, volumes: [volume], inJoinOrder: true) { _, _ in 1 }
        #expect(joined.homeNode(of: nyc) == NodeID("nyc-b"))
        let sorted = ClusterMap(nodes: nodes, volumes: [volume]) { _, _ in 1 }
        #expect(sorted.homeNode(of: nyc) == NodeID("nyc-a"))
    }

    @Test func joinersAreAppendedAndTheHomeRecordStays() {
        let first = NodeID("nyc-z")
        var core = NodeCore(
            id: first, map: ClusterMap(nodes: [(first, nyc)], volumes: [volume], inJoinOrder: true) { a, b in a == b ? 0.5 : 70 },
            migration: MigrationConfig(), policy: PolicyConfig())
        _ = core.start(now: .zero, wallMs: 0)
        let key = BlockKey(volume.name, BlockID(3))
        let home = core.map.homeRecord(of: key)
        #expect(home?.holder == first)
        // A node with a smaller id joins nyc, and London's first node: nyc's home is unchanged.
        let effects = core.setMembers(
            [(first, nyc), (NodeID("nyc-a"), nyc), (NodeID("london-1"), london)], now: .ms(10), wallMs: 10)
        #expect(core.map.nodes(in: nyc) == [first, NodeID("nyc-a")])
        #expect(core.map.homeRecord(of: key)?.holder == first)
        // A second region appeared: the node starts measuring its round trip to it.
        #expect(effects.contains { if case .send(NodeID("london-1"), let e) = $0, case .ping = e.message { true } else { false } })
        // Listing the members again (in any order) changes nothing; a region never changes.
        _ = core.setMembers([(NodeID("london-1"), london), (NodeID("nyc-a"), london), (first, nyc)], now: .ms(20), wallMs: 20)
        #expect(core.map.nodes(in: nyc) == [first, NodeID("nyc-a")])
        #expect(core.map.nodes(in: london) == [NodeID("london-1")])
    }
}
