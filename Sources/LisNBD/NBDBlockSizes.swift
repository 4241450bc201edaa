/// Block size constraints advertised with `NBD_INFO_BLOCK_SIZE` and enforced on every request.
///
/// The server always sends these in reply to `NBD_OPT_INFO`/`NBD_OPT_GO` (the spec allows
/// unrequested information, and a server with non-default constraints MUST send them when
/// asked). Requests whose offset or length is not a multiple of ``minimumBytes`` get `EINVAL`
/// without reaching the delegate, whether or not the client asked for the constraints (the
/// spec requires such a server to "cleanly error" them), so a delegate only ever sees aligned
/// ranges.
public struct NBDBlockSizes: Sendable, Equatable {
    /// Smallest addressable length and alignment. A power of two, at most 64 KiB.
    public let minimumBytes: UInt32
    /// Size at which aligned requests are efficient. A power of two ≥ max(minimum, 512).
    public let preferredBytes: UInt32
    /// Largest READ, WRITE or WRITE_ZEROES length accepted. A multiple of the minimum and
    /// ≥ the preferred size.
    public let maximumBytes: UInt32

    /// 4096 / 4096 / 32 MiB: Lis stores 4 KiB blocks, and 32 MiB is the largest payload that the
    /// spec says clients may assume is not a denial of service.
    public static let standard = NBDBlockSizes(
        uncheckedMinimumBytes: 4096, preferredBytes: 4096, maximumBytes: 32 << 20)

    /// Why a set of block sizes breaks the spec's rules.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Checks the spec's rules ("Block size constraints") so that a misconfiguration is caught at
    /// startup rather than by a client refusing to connect.
    public init(minimumBytes: UInt32, preferredBytes: UInt32, maximumBytes: UInt32) throws(Invalid) {
        guard minimumBytes.nonzeroBitCount == 1, minimumBytes <= 1 << 16 else {
            throw Invalid(description: "nbd: minimum block size must be a power of 2 ≤ 65536, got \(minimumBytes)")
        }
        guard preferredBytes.nonzeroBitCount == 1, preferredBytes >= max(minimumBytes, 512) else {
            throw Invalid(
                description: "nbd: preferred block size must be a power of 2 ≥ max(minimum, 512), "
                    + "got \(preferredBytes)")
        }
        guard maximumBytes % minimumBytes == 0, maximumBytes >= preferredBytes else {
            throw Invalid(
                description: "nbd: maximum block size must be a multiple of the minimum and ≥ the preferred size, "
                    + "got \(maximumBytes)")
        }
        self.init(uncheckedMinimumBytes: minimumBytes, preferredBytes: preferredBytes, maximumBytes: maximumBytes)
    }

    private init(uncheckedMinimumBytes: UInt32, preferredBytes: UInt32, maximumBytes: UInt32) {
        self.minimumBytes = uncheckedMinimumBytes
        self.preferredBytes = preferredBytes
        self.maximumBytes = maximumBytes
    }

    /// Whether `value` is a multiple of the minimum block size (a power of two).
    @inline(__always)
    func isAligned(_ value: UInt64) -> Bool {
        value & UInt64(self.minimumBytes &- 1) == 0
    }
}
