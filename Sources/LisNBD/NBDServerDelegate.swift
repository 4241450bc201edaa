/// What the server serves: the export catalogue and the I/O behind it.
///
/// Every method is called on the connection's event loop and MUST NOT block it. `handle` should
/// start the I/O and return; the answer goes through the responder, from any thread, later.
public protocol NBDServerDelegate: AnyObject, Sendable {
    /// Exports named in reply to `NBD_OPT_LIST`.
    func listExports() -> [NBDExport]
    /// The export a client asks for by name, or nil (`NBD_REP_ERR_UNKNOWN`, or a closed
    /// connection for `NBD_OPT_EXPORT_NAME`, which cannot report errors).
    func export(named name: String) -> NBDExport?
    /// Carries out one validated command (see ``NBDCommand`` for what is already checked).
    ///
    /// Commands on one connection are handed over as soon as they are decoded, without waiting
    /// for earlier ones, and may complete in any order. The delegate MUST answer each exactly
    /// once through `responder`; a command never answered keeps its connection from draining
    /// on DISC or shutdown. FLUSH MUST NOT be answered before every write already answered is
    /// durable; a command with `fua` MUST NOT be answered before its own data is durable.
    func handle(_ command: NBDCommand, export: NBDExport, responder: NBDResponder)
    /// Carries out the commands one pass over a connection's received bytes decoded, in order:
    /// a delegate whose I/O runs on another thread hands them over with one hop. The default
    /// calls ``handle(_:export:responder:)`` for each.
    func handle(_ commands: [NBDDispatch])
}

/// One validated command for ``NBDServerDelegate/handle(_:)``.
public struct NBDDispatch: Sendable {
    public let command: NBDCommand
    public let export: NBDExport
    public let responder: NBDResponder

    public init(command: NBDCommand, export: NBDExport, responder: NBDResponder) {
        self.command = command
        self.export = export
        self.responder = responder
    }
}

extension NBDServerDelegate {
    public func handle(_ commands: [NBDDispatch]) {
        for c in commands { self.handle(c.command, export: c.export, responder: c.responder) }
    }
}

/// Adapts a delegate to the state machine's catalogue.
struct NBDDelegateCatalog: NBDExportCatalog {
    let delegate: any NBDServerDelegate

    func listExports() -> [NBDExport] { self.delegate.listExports() }
    func export(named name: String) -> NBDExport? { self.delegate.export(named: name) }
}
