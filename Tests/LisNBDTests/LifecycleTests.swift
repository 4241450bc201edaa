import NIOCore
import NIOEmbedded
import Testing

@testable import LisNBD

@Suite("Disconnect, shutdown and backpressure")
struct LifecycleTests {
    typealias Command = NBDProtocol.Command

    @Test func discWithNothingInFlightClosesAtOnce() throws {
        let harness = try Harness()
        try harness.negotiate()
        harness.sendIgnoringClose(Wire.request(Command.disconnect, cookie: 1))
        #expect(!harness.isOpen)
        #expect(harness.inbox.readableBytes == 0)
        #expect(harness.registry.openConnections == 0)
    }

    @Test func discWaitsForInFlightCommandsThenCloses() throws {
        let harness = try Harness()
        try harness.negotiate()
        harness.delegate.answerImmediately = false
        var burst = Wire.write(cookie: 1, offset: 0, bytes: pattern(4096, seed: 1))
        burst.writeImmutableBuffer(Wire.read(cookie: 2, offset: 0, length: 4096))
        burst.writeImmutableBuffer(Wire.request(Command.disconnect, cookie: 3))
        // Anything after DISC is ignored, even garbage.
        burst.writeBytes([0xFF, 0xFF, 0xFF, 0xFF])
        try harness.send(burst)
        #expect(harness.isOpen)
        #expect(harness.delegate.parkedCount == 2)

        harness.delegate.answerParked(at: 0)
        harness.runLoop()
        #expect(harness.isOpen)
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 1, data: []))

        harness.delegate.answerParked(at: 0)
        harness.runLoop()
        #expect(
            try harness.readSimpleReply(dataLength: 4096)
                == SimpleReply(error: 0, cookie: 2, data: pattern(4096, seed: 1)))
        #expect(!harness.isOpen)
        #expect(harness.registry.openConnections == 0)
        #expect(harness.delegate.received.count == 2)
    }

    @Test func shutdownGivesEshutdownToNewCommandsAndClosesAfterInFlight() throws {
        let registry = NBDConnectionRegistry()
        let harness = try Harness(registry: registry)
        try harness.negotiate()
        harness.delegate.answerImmediately = false
        try harness.send(Wire.write(cookie: 1, offset: 0, bytes: pattern(4096, seed: 1)))
        #expect(harness.delegate.parkedCount == 1)

        let done = registry.shutdown(on: harness.channel.embeddedEventLoop)
        harness.runLoop()
        var finished = false
        done.assumeIsolated().whenSuccess { finished = true }
        #expect(!finished)
        #expect(harness.isOpen)

        // A command after shutdown began is refused without reaching the delegate.
        try harness.send(Wire.read(cookie: 2, offset: 0, length: 4096))
        #expect(try harness.readSimpleReply() == SimpleReply(error: NBDError.eshutdown.rawValue, cookie: 2, data: []))
        #expect(harness.delegate.received.count == 1)

        // The in-flight write completes normally, then the connection closes.
        harness.delegate.answerParked(at: 0)
        harness.runLoop()
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 1, data: []))
        #expect(!harness.isOpen)
        harness.runLoop()
        #expect(finished)
        #expect(registry.openConnections == 0)
    }

    @Test func shutdownClosesIdleAndHandshakingConnectionsAndRefusesNewOnes() throws {
        let registry = NBDConnectionRegistry()
        let idle = try Harness(registry: registry)
        try idle.negotiate()
        let handshaking = try Harness(registry: registry)
        let late = try Harness(registry: registry, connect: false)
        #expect(registry.openConnections == 2)

        let done = registry.shutdown(on: idle.channel.embeddedEventLoop)
        idle.runLoop()
        handshaking.runLoop()
        #expect(!idle.isOpen)
        #expect(!handshaking.isOpen)
        var finished = false
        done.assumeIsolated().whenSuccess { finished = true }
        idle.runLoop()
        #expect(finished)

        try late.connect()
        #expect(!late.isOpen)
        #expect(late.inbox.readableBytes == 0)  // No greeting for a connection refused at shutdown.
        #expect(registry.openConnections == 0)
    }

    @Test func shutdownWithNoConnectionsCompletesAtOnce() throws {
        let registry = NBDConnectionRegistry()
        let loop = EmbeddedEventLoop()
        var finished = false
        registry.shutdown(on: loop).assumeIsolated().whenSuccess { finished = true }
        loop.run()
        #expect(finished)
    }

    @Test func inFlightBoundStopsDecodingAndReadingUntilRepliesDrain() throws {
        let harness = try Harness(limits: NBDServerLimits(inFlightRequestsMaximum: 2))
        try harness.negotiate()
        harness.delegate.answerImmediately = false
        var burst = ByteBuffer()
        for cookie in UInt64(1)...4 {
            burst.writeImmutableBuffer(Wire.request(Command.flush, cookie: cookie))
        }
        try harness.send(burst)
        #expect(harness.delegate.parkedCount == 2)

        // read() is held back while at the bound.
        let readsBefore = harness.readCounter.reads
        harness.channel.read()
        #expect(harness.readCounter.reads == readsBefore)

        // One answer lets one buffered request through; still at the bound, still no read.
        harness.delegate.answerParked(at: 0)
        harness.runLoop()
        #expect(harness.delegate.received.count == 3)
        #expect(harness.readCounter.reads == readsBefore)

        // Draining below the bound with nothing buffered releases the held-back read.
        harness.delegate.answerParked(at: 0)
        harness.delegate.answerParked(at: 0)
        harness.runLoop()
        #expect(harness.delegate.received.count == 4)
        #expect(harness.readCounter.reads == readsBefore + 1)
        harness.delegate.answerParked(at: 0)
        harness.runLoop()
        let cookies = try (0..<4).map { _ in try harness.readSimpleReply().cookie }
        #expect(cookies == [1, 2, 3, 4])
    }

    @Test func bytesArrivingWhilePausedAreKeptInOrder() throws {
        let harness = try Harness(limits: NBDServerLimits(inFlightRequestsMaximum: 1))
        try harness.negotiate()
        harness.delegate.answerImmediately = false
        let data = pattern(8192, seed: 6)
        var write = Wire.write(cookie: 2, offset: 4096, bytes: data)
        var first = Wire.request(Command.flush, cookie: 1)
        first.writeImmutableBuffer(try required(write.readSlice(length: 10)))
        try harness.send(first)
        #expect(harness.delegate.received == [.flush])

        // The rest of the WRITE and a READ arrive while the connection is paused.
        var second = write
        second.writeImmutableBuffer(Wire.read(cookie: 3, offset: 4096, length: 8192))
        try harness.send(second)
        #expect(harness.delegate.received.count == 1)

        harness.delegate.answerParked(at: 0)
        harness.runLoop()
        #expect(harness.delegate.received.count == 2)
        harness.delegate.answerParked(at: 0)
        harness.runLoop()
        harness.delegate.answerParked(at: 0)
        harness.runLoop()
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 1, data: []))
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 2, data: []))
        #expect(try harness.readSimpleReply(dataLength: 8192) == SimpleReply(error: 0, cookie: 3, data: data))
    }

    @Test func inFlightByteBoundAlsoPausesDecoding() throws {
        let harness = try Harness(limits: NBDServerLimits(inFlightBytesMaximum: 8192))
        try harness.negotiate()
        harness.delegate.answerImmediately = false
        var burst = ByteBuffer()
        for cookie in UInt64(1)...3 {
            burst.writeImmutableBuffer(Wire.read(cookie: cookie, offset: 0, length: 4096))
        }
        try harness.send(burst)
        #expect(harness.delegate.parkedCount == 2)
        harness.delegate.answerParked(at: 0)
        harness.runLoop()
        #expect(harness.delegate.received.count == 3)
    }

    @Test func unwritableChannelPausesDecodingUntilWritableAgain() throws {
        let harness = try Harness()
        try harness.negotiate()
        harness.channel.isWritable = false
        harness.channel.pipeline.fireChannelWritabilityChanged()
        var burst = Wire.request(Command.flush, cookie: 1)
        burst.writeImmutableBuffer(Wire.request(Command.flush, cookie: 2))
        try harness.send(burst)
        #expect(harness.delegate.received.isEmpty)
        let readsBefore = harness.readCounter.reads
        harness.channel.read()
        #expect(harness.readCounter.reads == readsBefore)

        harness.channel.isWritable = true
        harness.channel.pipeline.fireChannelWritabilityChanged()
        harness.runLoop()
        #expect(harness.delegate.received == [.flush, .flush])
        #expect(harness.readCounter.reads == readsBefore + 1)
        #expect(try harness.readSimpleReply().cookie == 1)
        #expect(try harness.readSimpleReply().cookie == 2)
    }

    @Test func lateAnswersAfterTheClientLeftAreIgnored() throws {
        let harness = try Harness()
        try harness.negotiate()
        harness.delegate.answerImmediately = false
        try harness.send(Wire.read(cookie: 1, offset: 0, length: 4096))
        let parked = try harness.delegate.takeParked(at: 0)
        try harness.channel.close().wait()
        #expect(harness.registry.openConnections == 0)
        parked.responder.succeed(data: ByteBuffer(bytes: pattern(4096, seed: 0)))
        harness.runLoop()
        #expect(harness.inbox.readableBytes == 0)
    }
}
