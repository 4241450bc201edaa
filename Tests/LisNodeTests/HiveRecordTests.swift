import Foundation
import LisCore
import Testing

@testable import LisNode

/// A data directory remembers its cluster, so that no start deletes another cluster's volumes.
struct HiveRecordTests {
    let embedded = HiveRecord(engine: .embedded)
    let prod = HiveRecord(engine: .etcd, cluster: "prod", prefix: "/lis/", endpoints: ["http://10.0.0.1:2379"])

    @Test func aFreshDirectoryStartsAgainstAnyHive() {
        #expect(HiveRecord.refusal(recorded: nil, configured: embedded, embeddedVolumes: []) == nil)
        #expect(HiveRecord.refusal(recorded: nil, configured: prod, embeddedVolumes: []) == nil)
        #expect(HiveRecord.refusal(recorded: embedded, configured: prod, embeddedVolumes: []) == nil)
    }

    @Test func aOneNodeDirectoryWithVolumesDoesNotJoinACluster() throws {
        for recorded in [nil, embedded] {
            let refusal = try #require(HiveRecord.refusal(recorded: recorded, configured: prod, embeddedVolumes: ["vm-100-disk-0"]))
            #expect(refusal.contains("vm-100-disk-0") && refusal.contains("empty data directory"))
        }
        #expect(HiveRecord.refusal(recorded: embedded, configured: embedded, embeddedVolumes: ["vm-100-disk-0"]) == nil)
    }

    @Test func aClusterMemberStaysInItsCluster() throws {
        var moved = prod
        moved.endpoints = ["http://10.0.0.9:2379"]  // etcd moved: still the same cluster
        #expect(HiveRecord.refusal(recorded: prod, configured: moved, embeddedVolumes: []) == nil)
        for other in [
            HiveRecord(engine: .etcd, cluster: "test", prefix: "/lis/", endpoints: ["http://10.0.0.1:2379"]),
            HiveRecord(engine: .etcd, cluster: "prod", prefix: "/other/", endpoints: ["http://10.0.0.1:2379"]), embedded,
        ] {
            let refusal = try #require(HiveRecord.refusal(recorded: prod, configured: other, embeddedVolumes: []))
            #expect(refusal.contains("cluster prod"))
        }
    }

    @Test func theRecordSurvivesARoundTripAndAGarbledOneIsAnError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lis-hive-record-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try HiveRecord.read(in: directory) == nil)
        try prod.write(in: directory)
        #expect(try HiveRecord.read(in: directory) == prod)
        try Data("{".utf8).write(to: URL(fileURLWithPath: directory + "/hive.json"))
        #expect(throws: NodeStartError.self) { try HiveRecord.read(in: directory) }
    }
}
