import NIOCore
import Synchronization

/// Tracks open NBD connections so the node can shut down cleanly.
///
/// Each connection registers when it becomes active and unregisters when its channel closes.
/// ``shutdown(on:)`` stops new commands (they get `ESHUTDOWN`), lets in-flight ones finish,
/// then closes every connection; connections that arrive afterwards are closed at once.
public final class NBDConnectionRegistry: Sendable {
    private struct State {
        var nextID: UInt64 = 0
        /// Connection id → how to ask that connection to shut down (hops to its event loop).
        var connections: [UInt64: @Sendable () -> Void] = [:]
        var shuttingDown = false
        var waiters: [EventLoopPromise<Void>] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Connections currently open (registered and not yet closed).
    public var openConnections: Int {
        self.state.withLock { $0.connections.count }
    }

    /// Stop taking new commands (they get `ESHUTDOWN`), let in-flight commands finish, then close
    /// every connection. Connections still in the handshake are closed at once. Completes on
    /// `eventLoop` when all are closed. Safe to call more than once.
    public func shutdown(on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let toNotify: [@Sendable () -> Void]? = self.state.withLock { state in
            let first = !state.shuttingDown
            state.shuttingDown = true
            if state.connections.isEmpty {
                return nil
            }
            state.waiters.append(promise)
            // Ask in id order so a shutdown is reproducible; callbacks run outside the lock.
            return first ? state.connections.sorted { $0.key < $1.key }.map(\.value) : []
        }
        guard let toNotify else {
            promise.succeed()
            return promise.futureResult
        }
        for notify in toNotify {
            notify()
        }
        return promise.futureResult
    }

    /// Registers a connection. Returns nil when shutting down: the caller must close.
    func register(onShutdown: @escaping @Sendable () -> Void) -> UInt64? {
        self.state.withLock { state in
            guard !state.shuttingDown else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.connections[id] = onShutdown
            return id
        }
    }

    func unregister(_ id: UInt64) {
        let finished: [EventLoopPromise<Void>] = self.state.withLock { state in
            guard state.connections.removeValue(forKey: id) != nil else { return [] }
            guard state.shuttingDown, state.connections.isEmpty else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for promise in finished {
            promise.succeed()
        }
    }
}
