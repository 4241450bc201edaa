/// One block device that the server offers, as the client sees it during the handshake.
///
/// The delegate creates these; the server copies the value when a client enters transmission,
/// so later changes to the delegate's catalogue do not affect an open connection.
public struct NBDExport: Sendable, Equatable {
    /// The name a client asks for with `NBD_OPT_GO`/`INFO`/`EXPORT_NAME`. The empty name is the
    /// spec's "default export"; offer it only if you mean to. At most 4096 bytes of UTF-8.
    public var name: String
    /// The size of the device. SHOULD be a multiple of the advertised minimum block size
    /// (4096 with ``NBDBlockSizes/standard``): qemu rejects an export whose size is not.
    public var sizeBytes: UInt64
    /// When true the server sets `NBD_FLAG_READ_ONLY` and refuses WRITE, TRIM and WRITE_ZEROES
    /// with `EPERM` before they reach the delegate.
    public var readOnly: Bool
    /// Sets `NBD_FLAG_CAN_MULTI_CONN`: a promise that FLUSH and FUA on one connection make the
    /// data durable and visible for every connection to this export. Only set it if the
    /// delegate's flush is global per export.
    public var canMultiConn: Bool
    /// Shown to humans (`nbdinfo`) via `NBD_INFO_DESCRIPTION` when the client asks for it.
    public var description: String?

    public init(
        name: String,
        sizeBytes: UInt64,
        readOnly: Bool = false,
        canMultiConn: Bool = false,
        description: String? = nil
    ) {
        self.name = name
        self.sizeBytes = sizeBytes
        self.readOnly = readOnly
        self.canMultiConn = canMultiConn
        self.description = description
    }
}
