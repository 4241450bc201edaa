/// Bounds that keep one hostile or runaway client from exhausting the node.
///
/// Every bound is an explicit outcome: exceeding a handshake bound closes that connection;
/// reaching an in-flight bound stops reading from the socket until replies drain.
public struct NBDServerLimits: Sendable, Equatable {
    /// Largest option payload accepted during the handshake; a larger one closes the connection
    /// (the spec lets a server hard-disconnect a client it deems a denial of service).
    public var optionDataMaximumBytes: UInt32
    /// How many options a client may send before entering transmission.
    public var optionsMaximum: Int
    /// Requests handed to the delegate and not yet answered, per connection, before the server
    /// stops reading. Reading resumes as soon as the count drops below it.
    public var inFlightRequestsMaximum: Int
    /// Bytes of READ and WRITE payload in flight per connection before the server stops
    /// reading; bounds memory when a client queues many large requests.
    public var inFlightBytesMaximum: UInt64

    public init(
        optionDataMaximumBytes: UInt32 = 64 << 10,
        optionsMaximum: Int = 256,
        inFlightRequestsMaximum: Int = 1024,
        inFlightBytesMaximum: UInt64 = 256 << 20
    ) {
        self.optionDataMaximumBytes = optionDataMaximumBytes
        self.optionsMaximum = optionsMaximum
        self.inFlightRequestsMaximum = inFlightRequestsMaximum
        self.inFlightBytesMaximum = inFlightBytesMaximum
    }

    /// 64 KiB options, 256 options, 1024 requests or 256 MiB in flight per connection.
    public static let standard = NBDServerLimits()
}
