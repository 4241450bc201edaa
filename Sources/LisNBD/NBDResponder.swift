import NIOCore

/// Answers one command exactly once. Callable from any thread; it hops to the channel's event
/// loop. Answers after the connection closed, and second answers, are ignored.
public struct NBDResponder: Sendable {
    fileprivate let connection: NIOLoopBound<NBDServerHandler>
    /// The connection's identity, readable from any thread (a batch groups answers by it).
    fileprivate let connectionID: ObjectIdentifier
    let token: NBDRequestToken

    init(connection: NIOLoopBound<NBDServerHandler>, connectionID: ObjectIdentifier, token: NBDRequestToken) {
        self.connection = connection
        self.connectionID = connectionID
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

/// Answers collected off the connections' event loops and sent with one hop per connection:
/// a server that completes many commands in one go (its own event loop's tick) pays one task
/// on each connection's loop and one flush there, not a task per answer.
public struct NBDReplyBatch: Sendable {
    private var connections: [(connection: NIOLoopBound<NBDServerHandler>, id: ObjectIdentifier, answers: [(NBDRequestToken, NBDCommandOutcome)])] = []

    public init() {}

    public var isEmpty: Bool { self.connections.isEmpty }

    public mutating func succeed(_ responder: NBDResponder) { self.add(responder, .success(nil)) }
    public mutating func succeed(_ responder: NBDResponder, data: ByteBuffer) { self.add(responder, .success(data)) }
    public mutating func fail(_ responder: NBDResponder, _ error: NBDError) { self.add(responder, .failure(error)) }

    private mutating func add(_ responder: NBDResponder, _ outcome: NBDCommandOutcome) {
        // A server has few connections: a linear search beats hashing.
        if let i = self.connections.firstIndex(where: { $0.id == responder.connectionID }) {
            self.connections[i].answers.append((responder.token, outcome))
        } else {
            self.connections.append((responder.connection, responder.connectionID, [(responder.token, outcome)]))
        }
    }

    /// Hands every answer to its connection (at once for one on the calling loop) and empties the batch.
    public mutating func send() {
        for (connection, _, answers) in self.connections {
            let eventLoop = connection.eventLoop
            if eventLoop.inEventLoop {
                connection.value.commandsCompleted(answers)
            } else {
                eventLoop.execute { connection.value.commandsCompleted(answers) }
            }
        }
        self.connections.removeAll(keepingCapacity: true)
    }
}
