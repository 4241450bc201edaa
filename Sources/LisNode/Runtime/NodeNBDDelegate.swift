import LisCore
import LisNBD

/// Serves the node's volumes as NBD exports (export name = volume name). NBD connections run
/// on the runtime's event loop, so every call enters the runtime synchronously; each pass of
/// decoded commands arrives together, and the runtime answers them in batches (`NBDReplyBatch`).
final class NodeNBDDelegate: NBDServerDelegate {
    let runtime: NodeRuntime

    init(runtime: NodeRuntime) { self.runtime = runtime }

    static func export(_ volume: VolumeSpec) -> NBDExport {
        // Every connection reaches the same node, which orders each block's writes and flushes
        // every acknowledged write: flush and FUA are visible to all connections.
        NBDExport(name: volume.name.name, sizeBytes: volume.sizeBytes, readOnly: false, canMultiConn: true, description: nil)
    }

    func listExports() -> [NBDExport] {
        runtime.assumeIsolated { $0.volumes.map(Self.export) }
    }

    func export(named name: String) -> NBDExport? {
        runtime.assumeIsolated { $0.volumeByName[name].map(Self.export) }
    }

    func handle(_ command: NBDCommand, export: NBDExport, responder: NBDResponder) {
        handle([NBDDispatch(command: command, export: export, responder: responder)])
    }

    func handle(_ commands: [NBDDispatch]) {
        runtime.assumeIsolated { $0.handle(commands) }
    }
}
