import Foundation
import LisCore

/// The Hive a data directory belongs to, kept in `<data_dir>/hive.json` from a node's first
/// start on.
///
/// At every start a node reconciles its volume files with its Hive and deletes the files Hive
/// does not list. Started against another Hive — a config that lost its `[hive]` section, a
/// one-node data directory pointed at a cluster's etcd — that would delete another cluster's
/// data. The record turns those mistakes into a refusal that says what to do, and it lets a
/// node that joined by discovery restart without asking again (the cluster's other members may
/// all be restarting too, with nobody to answer).
struct HiveRecord: Codable, Equatable {
    /// `embedded` or `etcd` (`HiveConfig.Engine`).
    var engine: String
    /// The cluster's name (`[cluster] name`), for etcd.
    var cluster: String?
    /// etcd's key prefix: with the cluster's name, which cluster this is.
    var prefix: String?
    /// etcd's endpoints as last used (they may change; the prefix and name may not).
    var endpoints: [String]?

    static let fileName = "hive.json"

    init(engine: HiveConfig.Engine, cluster: String? = nil, prefix: String? = nil, endpoints: [String]? = nil) {
        self.engine = engine.rawValue
        self.cluster = engine == .etcd ? cluster : nil
        self.prefix = engine == .etcd ? prefix : nil
        self.endpoints = engine == .etcd ? endpoints : nil
    }

    init(_ settings: NodeSettings) {
        self.init(
            engine: settings.hive.engine, cluster: settings.cluster.name, prefix: settings.hive.prefix,
            endpoints: settings.hive.endpoints)
    }

    var isEtcd: Bool { engine == HiveConfig.Engine.etcd.rawValue }

    var text: String {
        isEtcd
            ? "cluster \(cluster ?? "?") (Hive in etcd at \((endpoints ?? []).joined(separator: ", ")) under \(prefix ?? "?"))"
            : "a one-node cluster (the embedded Hive)"
    }

    /// Why a node whose data directory has `recorded` must not start against `configured`,
    /// or nil if it may. `recorded` is nil for a fresh directory, or one from before records
    /// (whose Hive was the embedded one if it has any volumes); `embeddedVolumes` are the
    /// volumes of the directory's embedded Hive. A node whose config names no Hive but whose
    /// record names a cluster takes the record's Hive before this check (`NodeServer`).
    static func refusal(recorded: HiveRecord?, configured: HiveRecord, embeddedVolumes: [String]) -> String? {
        if let recorded, recorded.isEtcd {
            guard configured.isEtcd && recorded.prefix == configured.prefix && recorded.cluster == configured.cluster else {
                return "this data directory belongs to \(recorded.text), not to \(configured.text): its volume files "
                    + "would be deleted as unknown. Start it with that cluster's Hive, or give this node an empty data directory"
            }
            return nil
        }
        guard configured.isEtcd && !embeddedVolumes.isEmpty else { return nil }
        let shown = embeddedVolumes.prefix(5).joined(separator: ", ")
            + (embeddedVolumes.count > 5 ? " and \(embeddedVolumes.count - 5) more" : "")
        return "this data directory holds the volumes of a one-node cluster (\(shown)); joining \(configured.text) "
            + "would delete them as unknown. Copy them out (qemu-img convert from their NBD exports) and give the node an "
            + "empty data directory"
    }

    /// The directory's record; nil if it has none.
    static func read(in directory: String) throws(NodeStartError) -> HiveRecord? {
        let path = directory + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path), let record = try? JSONDecoder().decode(Self.self, from: data)
        else {
            throw NodeStartError(
                "cannot read \(path), the record of which cluster this data directory belongs to; "
                    + "restore it or remove it if you know the node's Hive is the configured one")
        }
        return record
    }

    /// Writes the record durably (a new file renamed over the old, then the directory synced).
    func write(in directory: String) throws(NodeStartError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let bytes = try? encoder.encode(self) else { preconditionFailure("a HiveRecord always encodes") }
        try NodeServer.writeDurably(bytes, to: directory + "/" + Self.fileName, in: directory)
    }
}
