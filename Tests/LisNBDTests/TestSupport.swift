import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import LisNBD

// MARK: - Delegate

/// An NBD delegate backed by in-memory byte arrays. It records every command it sees and either
/// answers at once or parks the responder so a test can answer later, in any order.
final class MemoryDelegate: NBDServerDelegate {
    struct Received: Sendable {
        var command: NBDCommand
        var export: NBDExport
        var responder: NBDResponder
    }

    private struct State {
        var exports: [NBDExport]
        var storage: [String: [UInt8]]
        var answerImmediately = true
        var received: [NBDCommand] = []
        var parked: [Received] = []
        var batchSizes: [Int] = []
    }

    private let state: Mutex<State>

    static let disk = NBDExport(
        name: "disk0", sizeBytes: 1 << 20, readOnly: false, canMultiConn: true, description: "test disk")
    static let readOnlyDisk = NBDExport(name: "ro", sizeBytes: 64 << 10, readOnly: true, canMultiConn: false)

    init(exports: [NBDExport] = [MemoryDelegate.disk, MemoryDelegate.readOnlyDisk]) {
        var storage: [String: [UInt8]] = [:]
        for export in exports {
            storage[export.name] = [UInt8](repeating: 0, count: Int(export.sizeBytes))
        }
        self.state = Mutex(State(exports: exports, storage: storage))
    }

    var answerImmediately: Bool {
        get { self.state.withLock { $0.answerImmediately } }
        set { self.state.withLock { $0.answerImmediately = newValue } }
    }

    /// Every command that reached the delegate, in arrival order.
    var received: [NBDCommand] { self.state.withLock { $0.received } }

    var parkedCount: Int { self.state.withLock { $0.parked.count } }

    /// How many commands each hand-over carried, in order.
    var batchSizes: [Int] { self.state.withLock { $0.batchSizes } }

    func handle(_ commands: [NBDDispatch]) {
        self.state.withLock { $0.batchSizes.append(commands.count) }
        for c in commands { self.handle(c.command, export: c.export, responder: c.responder) }
    }

    func bytes(of export: String, at offset: Int, count: Int) -> [UInt8] {
        self.state.withLock { Array($0.storage[export]![offset..<(offset + count)]) }
    }

    func fill(_ export: String, at offset: Int, with bytes: [UInt8]) {
        self.state.withLock { $0.storage[export]!.replaceSubrange(offset..<(offset + bytes.count), with: bytes) }
    }

    func listExports() -> [NBDExport] { self.state.withLock { $0.exports } }

    func export(named name: String) -> NBDExport? {
        self.state.withLock { state in state.exports.first { $0.name == name } }
    }

    func handle(_ command: NBDCommand, export: NBDExport, responder: NBDResponder) {
        let immediate: Bool = self.state.withLock { state in
            state.received.append(command)
            if !state.answerImmediately {
                state.parked.append(Received(command: command, export: export, responder: responder))
            }
            return state.answerImmediately
        }
        if immediate {
            self.perform(command, export: export, responder: responder)
        }
    }

    /// Carries out a parked command (index into the parked list, which shrinks).
    func answerParked(at index: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let item = self.removeParked(at: index) else {
            Issue.record("no parked command at \(index)", sourceLocation: sourceLocation)
            return
        }
        self.perform(item.command, export: item.export, responder: item.responder)
    }

    /// Removes a parked command without answering it, returning its responder.
    func takeParked(at index: Int, sourceLocation: SourceLocation = #_sourceLocation) throws -> Received {
        try #require(self.removeParked(at: index), sourceLocation: sourceLocation)
    }

    private func removeParked(at index: Int) -> Received? {
        self.state.withLock { state in
            state.parked.indices.contains(index) ? state.parked.remove(at: index) : nil
        }
    }

    /// Applies a command to the in-memory store and answers it (outside the lock: the answer
    /// may synchronously decode further requests and call back into `handle`).
    func perform(_ command: NBDCommand, export: NBDExport, responder: NBDResponder) {
        switch command {
        case .read(let offset, let length):
            let bytes = self.bytes(of: export.name, at: Int(offset), count: Int(length))
            responder.succeed(data: ByteBuffer(bytes: bytes))
        case .write(let offset, let data, _):
            self.fill(export.name, at: Int(offset), with: Array(data.readableBytesView))
            responder.succeed()
        case .flush:
            responder.succeed()
        case .trim(let offset, let length, _), .writeZeroes(let offset, let length, _, _):
            self.fill(export.name, at: Int(offset), with: [UInt8](repeating: 0, count: Int(length)))
            responder.succeed()
        }
    }
}

// MARK: - Client-side encoding

enum Wire {
    static func clientFlags(_ flags: UInt32) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(flags)
        return buffer
    }

    static func option(_ code: UInt32, _ data: ByteBuffer = ByteBuffer()) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(NBDProtocol.optionMagic)
        buffer.writeInteger(code)
        buffer.writeInteger(UInt32(data.readableBytes))
        buffer.writeImmutableBuffer(data)
        return buffer
    }

    /// The data of `NBD_OPT_INFO`/`GO`.
    static func infoData(name: String, requests: [UInt16] = []) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(name.utf8.count))
        buffer.writeString(name)
        buffer.writeInteger(UInt16(requests.count))
        for request in requests {
            buffer.writeInteger(request)
        }
        return buffer
    }

    static func request(
        _ type: UInt16, flags: UInt16 = 0, cookie: UInt64, offset: UInt64 = 0, length: UInt32 = 0,
        payload: [UInt8]? = nil
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(NBDProtocol.requestMagic)
        buffer.writeInteger(flags)
        buffer.writeInteger(type)
        buffer.writeInteger(cookie)
        buffer.writeInteger(offset)
        buffer.writeInteger(length)
        if let payload {
            buffer.writeBytes(payload)
        }
        return buffer
    }

    static func write(cookie: UInt64, offset: UInt64, bytes: [UInt8], flags: UInt16 = 0) -> ByteBuffer {
        self.request(
            NBDProtocol.Command.write, flags: flags, cookie: cookie, offset: offset, length: UInt32(bytes.count),
            payload: bytes)
    }

    static func read(cookie: UInt64, offset: UInt64, length: UInt32, flags: UInt16 = 0) -> ByteBuffer {
        self.request(NBDProtocol.Command.read, flags: flags, cookie: cookie, offset: offset, length: length)
    }
}

/// Deterministic bytes for payloads: a test that fails prints the same data every run.
func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
}

// MARK: - Harness

/// `#require` for values produced by mutating calls (the macro cannot take them directly).
func required<T>(_ value: T?, sourceLocation: SourceLocation = #_sourceLocation) throws -> T {
    try #require(value, sourceLocation: sourceLocation)
}

struct OptionReply: Equatable {
    var option: UInt32
    var type: UInt32
    var data: [UInt8]
}

struct SimpleReply: Equatable {
    var error: UInt32
    var cookie: UInt64
    var data: [UInt8]
}

struct Chunk: Equatable {
    var flags: UInt16
    var type: UInt16
    var cookie: UInt64
    var payload: [UInt8]
}

/// Counts `read()` calls that pass the NBD handler, to observe backpressure.
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var reads = 0

    func read(context: ChannelHandlerContext) {
        self.reads += 1
        context.read()
    }
}

/// One server connection on an `EmbeddedChannel`, with a client's view of the bytes.
final class Harness {
    let channel: EmbeddedChannel
    let delegate: MemoryDelegate
    let registry: NBDConnectionRegistry
    let readCounter = ReadCounter()
    /// Bytes the server sent and the test has not parsed yet.
    var inbox = ByteBuffer()

    init(
        delegate: MemoryDelegate = MemoryDelegate(),
        registry: NBDConnectionRegistry = NBDConnectionRegistry(),
        blockSizes: NBDBlockSizes = .standard,
        limits: NBDServerLimits = .standard,
        connect: Bool = true
    ) throws {
        self.delegate = delegate
        self.registry = registry
        self.channel = EmbeddedChannel()
        try self.channel.pipeline.syncOperations.addHandler(self.readCounter)
        try NBDServer.configure(
            self.channel, delegate: delegate, registry: registry, blockSizes: blockSizes, limits: limits
        ).wait()
        if connect {
            try self.connect()
        }
    }

    func connect() throws {
        try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 10809)).wait()
        self.runLoop()
    }

    var isOpen: Bool { self.channel.isActive }

    /// Delivers bytes as one read, runs pending tasks, and collects the output.
    func send(_ buffers: ByteBuffer...) throws {
        for buffer in buffers {
            try self.channel.writeInbound(buffer)
        }
        self.runLoop()
    }

    /// Delivers bytes, ignoring errors from a channel the server already closed.
    func sendIgnoringClose(_ buffer: ByteBuffer) {
        guard self.channel.isActive else { return }
        _ = try? self.channel.writeInbound(buffer)
        self.runLoop()
    }

    func runLoop() {
        self.channel.embeddedEventLoop.run()
        while let buffer = try? self.channel.readOutbound(as: ByteBuffer.self) {
            self.inbox.writeImmutableBuffer(buffer)
        }
    }

    func readGreeting() throws -> UInt16 {
        let magic = try required(self.inbox.readInteger(as: UInt64.self))
        #expect(magic == NBDProtocol.initPasswd)
        let optionMagic = try required(self.inbox.readInteger(as: UInt64.self))
        #expect(optionMagic == NBDProtocol.optionMagic)
        return try required(self.inbox.readInteger(as: UInt16.self))
    }

    func readOptionReply() throws -> OptionReply {
        let magic = try required(self.inbox.readInteger(as: UInt64.self))
        #expect(magic == NBDProtocol.optionReplyMagic)
        let option = try required(self.inbox.readInteger(as: UInt32.self))
        let type = try required(self.inbox.readInteger(as: UInt32.self))
        let length = try required(self.inbox.readInteger(as: UInt32.self))
        let data = try required(self.inbox.readBytes(length: Int(length)))
        return OptionReply(option: option, type: type, data: data)
    }

    func readSimpleReply(dataLength: Int = 0) throws -> SimpleReply {
        let magic = try required(self.inbox.readInteger(as: UInt32.self))
        #expect(magic == NBDProtocol.simpleReplyMagic)
        let error = try required(self.inbox.readInteger(as: UInt32.self))
        let cookie = try required(self.inbox.readInteger(as: UInt64.self))
        let data = error == 0 ? try required(self.inbox.readBytes(length: dataLength)) : []
        return SimpleReply(error: error, cookie: cookie, data: data)
    }

    func readChunk() throws -> Chunk {
        let magic = try required(self.inbox.readInteger(as: UInt32.self))
        #expect(magic == NBDProtocol.structuredReplyMagic)
        let flags = try required(self.inbox.readInteger(as: UInt16.self))
        let type = try required(self.inbox.readInteger(as: UInt16.self))
        let cookie = try required(self.inbox.readInteger(as: UInt64.self))
        let length = try required(self.inbox.readInteger(as: UInt32.self))
        let payload = try required(self.inbox.readBytes(length: Int(length)))
        return Chunk(flags: flags, type: type, cookie: cookie, payload: payload)
    }

    /// Greeting, client flags, optional STRUCTURED_REPLY, then GO with a BLOCK_SIZE request.
    /// Returns the transmission flags from `NBD_INFO_EXPORT`.
    @discardableResult
    func negotiate(export: String = "disk0", structuredReplies: Bool = false) throws -> UInt16 {
        _ = try self.readGreeting()
        try self.send(Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle | NBDProtocol.ClientFlag.noZeroes))
        if structuredReplies {
            try self.send(Wire.option(NBDProtocol.Option.structuredReply))
            let ack = try self.readOptionReply()
            #expect(ack.type == NBDProtocol.OptionReplyType.ack)
        }
        try self.send(
            Wire.option(NBDProtocol.Option.go, Wire.infoData(name: export, requests: [NBDProtocol.InfoType.blockSize])))
        var flags: UInt16?
        while true {
            let reply = try self.readOptionReply()
            if reply.type == NBDProtocol.OptionReplyType.ack { break }
            try #require(reply.type == NBDProtocol.OptionReplyType.info)
            var data = ByteBuffer(bytes: reply.data)
            if data.readInteger(as: UInt16.self) == NBDProtocol.InfoType.export {
                _ = data.readInteger(as: UInt64.self)
                flags = data.readInteger(as: UInt16.self)
            }
        }
        #expect(self.inbox.readableBytes == 0)
        return try #require(flags)
    }
}

extension ByteBuffer {
    /// Big-endian helpers for asserting payloads.
    static func bigEndian(_ body: (inout ByteBuffer) -> Void) -> [UInt8] {
        var buffer = ByteBuffer()
        body(&buffer)
        return Array(buffer.readableBytesView)
    }
}
