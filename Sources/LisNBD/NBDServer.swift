import NIOCore

/// Entry point: installs the NBD server handler in an accepted child channel.
///
/// The caller owns the bootstrap: it sets `TCP_NODELAY` (for TCP), and a receive buffer
/// allocator large enough for big WRITEs (NIO reads at most 64 KiB per read by default).
public enum NBDServer {
    /// Installs the NBD handlers in a freshly accepted child channel with the standard block
    /// sizes and limits.
    public static func configure(
        _ channel: Channel,
        delegate: NBDServerDelegate,
        registry: NBDConnectionRegistry
    ) -> EventLoopFuture<Void> {
        self.configure(channel, delegate: delegate, registry: registry, blockSizes: .standard, limits: .standard)
    }

    /// Installs the NBD handlers with explicit block size constraints and limits.
    public static func configure(
        _ channel: Channel,
        delegate: NBDServerDelegate,
        registry: NBDConnectionRegistry,
        blockSizes: NBDBlockSizes,
        limits: NBDServerLimits
    ) -> EventLoopFuture<Void> {
        let install: @Sendable () throws -> Void = {
            try channel.pipeline.syncOperations.addHandler(
                NBDServerHandler(delegate: delegate, registry: registry, blockSizes: blockSizes, limits: limits))
        }
        if channel.eventLoop.inEventLoop {
            return channel.eventLoop.makeCompletedFuture(Result(catching: install))
        }
        return channel.eventLoop.submit(install)
    }
}
