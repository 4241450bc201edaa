import NIOCore

/// Answers one command exactly once. Callable from any thread; it hops to the channel's event
/// loop. Answers after the connection closed, and second answers, are ignored.
public struct NBDResponder: Sendable {
    private let connection: NIOLoopBound<NBDServerHandler>
    let token: NBDRequestToken

    init(connection: NIOLoopBound<NBDServerHandler>, token: NBDRequestToken) {
        self.connection = connection
        self.token = token
    }

    /// The command succeeded. For a READ use ``succeed(data:)`` instead; a READ answered without
    /// data is reported to the client as `EIO`.
    public func succeed() {
        self.complete(.success(nil))
    }

    /// The command succeeded with `data`. For a READ, `data.readableBytes` MUST equal the
    /// requested length (otherwise the client gets `EIO`); for other commands the data is ignored.
    public func succeed(data: ByteBuffer) {
        self.complete(.success(data))
    }

    /// The command failed with `error`.
    public func fail(_ error: NBDError) {
        self.complete(.failure(error))
    }

    private func complete(_ outcome: NBDCommandOutcome) {
        let eventLoop = self.connection.eventLoop
        if eventLoop.inEventLoop {
            self.connection.value.commandCompleted(self.token, outcome)
        } else {
            eventLoop.execute {
                self.connection.value.commandCompleted(self.token, outcome)
            }
        }
    }
}
