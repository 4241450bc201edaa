import NIOCore
import Testing

@testable import LisNBD

@Suite("Transmission")
struct TransmissionTests {
    typealias Command = NBDProtocol.Command
    typealias CommandFlag = NBDProtocol.CommandFlag

    static let einval = NBDError.einval.rawValue
    static let enospc = NBDError.enospc.rawValue
    static let eperm = NBDError.eperm.rawValue

    @Test func simpleWriteReadFlushTrimWriteZeroesRoundTrip() throws {
        let harness = try Harness()
        try harness.negotiate()

        let data = pattern(8192, seed: 1)
        try harness.send(Wire.write(cookie: 1, offset: 8192, bytes: data))
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 1, data: []))
        #expect(harness.delegate.bytes(of: "disk0", at: 8192, count: 8192) == data)

        try harness.send(Wire.read(cookie: 2, offset: 8192, length: 8192))
        #expect(try harness.readSimpleReply(dataLength: 8192) == SimpleReply(error: 0, cookie: 2, data: data))

        try harness.send(Wire.request(Command.flush, cookie: 3))
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 3, data: []))

        try harness.send(Wire.request(Command.trim, cookie: 4, offset: 8192, length: 4096))
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 4, data: []))
        #expect(harness.delegate.bytes(of: "disk0", at: 8192, count: 4096) == [UInt8](repeating: 0, count: 4096))

        try harness.send(
            Wire.request(Command.writeZeroes, flags: CommandFlag.noHole, cookie: 5, offset: 12288, length: 4096))
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 5, data: []))
        #expect(harness.delegate.bytes(of: "disk0", at: 8192, count: 8192) == [UInt8](repeating: 0, count: 8192))

        #expect(
            harness.delegate.received == [
                .write(offset: 8192, data: ByteBuffer(bytes: data), fua: false),
                .read(offset: 8192, length: 8192),
                .flush,
                .trim(offset: 8192, length: 4096, fua: false),
                .writeZeroes(offset: 12288, length: 4096, fua: false, noHole: true),
            ])
        #expect(harness.inbox.readableBytes == 0)
    }

    @Test func structuredReadGetsOneOffsetDataChunk() throws {
        let harness = try Harness()
        try harness.negotiate(structuredReplies: true)
        let data = pattern(4096, seed: 9)
        harness.delegate.fill("disk0", at: 65536, with: data)

        try harness.send(Wire.read(cookie: 0xDEAD_BEEF, offset: 65536, length: 4096, flags: CommandFlag.dontFragment))
        let chunk = try harness.readChunk()
        #expect(chunk.flags == NBDProtocol.ReplyFlag.done)
        #expect(chunk.type == NBDProtocol.ReplyType.offsetData)
        #expect(chunk.cookie == 0xDEAD_BEEF)
        #expect(Array(chunk.payload.prefix(8)) == [0, 0, 0, 0, 0, 1, 0, 0])
        #expect(Array(chunk.payload.dropFirst(8)) == data)

        // Writes still get simple replies.
        try harness.send(Wire.write(cookie: 2, offset: 0, bytes: data))
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 2, data: []))
        #expect(harness.inbox.readableBytes == 0)
    }

    @Test func structuredReadErrorsUseErrorChunks() throws {
        let harness = try Harness()
        try harness.negotiate(structuredReplies: true)
        try harness.send(Wire.read(cookie: 5, offset: 1 << 20, length: 4096))
        let chunk = try harness.readChunk()
        #expect(chunk.type == NBDProtocol.ReplyType.error)
        #expect(chunk.flags == NBDProtocol.ReplyFlag.done)
        #expect(chunk.cookie == 5)
        #expect(chunk.payload == [0, 0, 0, 22, 0, 0])

        // A delegate failure on READ is an error chunk too.
        harness.delegate.answerImmediately = false
        try harness.send(Wire.read(cookie: 6, offset: 0, length: 4096))
        try harness.delegate.takeParked(at: 0).responder.fail(.eio)
        harness.runLoop()
        #expect(
            try harness.readChunk()
                == Chunk(flags: 1, type: NBDProtocol.ReplyType.error, cookie: 6, payload: [0, 0, 0, 5, 0, 0]))
    }

    @Test func zeroLengthStructuredReadIsANoneChunk() throws {
        let harness = try Harness()
        try harness.negotiate(structuredReplies: true)
        try harness.send(Wire.read(cookie: 8, offset: 0, length: 0))
        #expect(try harness.readChunk() == Chunk(flags: 1, type: NBDProtocol.ReplyType.none, cookie: 8, payload: []))
        #expect(harness.delegate.received.isEmpty)
    }

    @Test func repliesGoOutOfOrderWithTheirOwnCookies() throws {
        let harness = try Harness()
        try harness.negotiate()
        harness.delegate.answerImmediately = false
        harness.delegate.fill("disk0", at: 0, with: pattern(4096, seed: 1))
        harness.delegate.fill("disk0", at: 4096, with: pattern(4096, seed: 2))

        var burst = Wire.read(cookie: 100, offset: 0, length: 4096)
        burst.writeImmutableBuffer(Wire.read(cookie: 200, offset: 4096, length: 4096))
        try harness.send(burst)
        // Both reached the delegate before either was answered.
        #expect(harness.delegate.parkedCount == 2)
        #expect(harness.inbox.readableBytes == 0)

        harness.delegate.answerParked(at: 1)
        harness.runLoop()
        #expect(
            try harness.readSimpleReply(dataLength: 4096)
                == SimpleReply(error: 0, cookie: 200, data: pattern(4096, seed: 2)))
        #expect(harness.inbox.readableBytes == 0)

        harness.delegate.answerParked(at: 0)
        harness.runLoop()
        #expect(
            try harness.readSimpleReply(dataLength: 4096)
                == SimpleReply(error: 0, cookie: 100, data: pattern(4096, seed: 1)))
    }

    @Test func answersFromAnotherThreadHopToTheEventLoop() throws {
        let harness = try Harness()
        try harness.negotiate()
        harness.delegate.answerImmediately = false
        try harness.send(Wire.request(Command.flush, cookie: 42))
        let parked = try harness.delegate.takeParked(at: 0)
        // EmbeddedEventLoop must be driven from its own thread, so answer on this thread but
        // through the same public API a storage thread would use.
        parked.responder.succeed()
        harness.runLoop()
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 42, data: []))
        // A second answer is ignored: exactly one reply per command.
        parked.responder.fail(.eio)
        harness.runLoop()
        #expect(harness.inbox.readableBytes == 0)
    }

    @Test func aBurstIsHandedOverInOnePassAndABatchAnswersIt() throws {
        let harness = try Harness()
        try harness.negotiate()
        harness.delegate.answerImmediately = false
        harness.delegate.fill("disk0", at: 0, with: pattern(4096, seed: 3))
        var burst = Wire.read(cookie: 1, offset: 0, length: 4096)
        burst.writeImmutableBuffer(Wire.request(Command.flush, cookie: 2))
        burst.writeImmutableBuffer(Wire.request(Command.flush, cookie: 3))
        try harness.send(burst)
        #expect(harness.delegate.batchSizes == [3])

        // Answered out of order through one batch, as a server answers a step's commands.
        let read = try harness.delegate.takeParked(at: 0)
        let first = try harness.delegate.takeParked(at: 0)
        let second = try harness.delegate.takeParked(at: 0)
        var batch = NBDReplyBatch()
        batch.fail(second.responder, .eio)
        batch.succeed(read.responder, data: ByteBuffer(bytes: pattern(4096, seed: 3)))
        batch.succeed(first.responder)
        #expect(!batch.isEmpty)
        batch.send()
        #expect(batch.isEmpty)
        harness.runLoop()
        #expect(try harness.readSimpleReply() == SimpleReply(error: NBDError.eio.rawValue, cookie: 3, data: []))
        #expect(try harness.readSimpleReply(dataLength: 4096) == SimpleReply(error: 0, cookie: 1, data: pattern(4096, seed: 3)))
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 2, data: []))

        // A second answer for a command already answered is ignored.
        batch.succeed(first.responder)
        batch.send()
        harness.runLoop()
        #expect(harness.inbox.readableBytes == 0)
    }

    @Test func fuaAndNoHoleReachTheDelegate() throws {
        let harness = try Harness()
        try harness.negotiate()
        let data = pattern(4096, seed: 4)
        try harness.send(Wire.write(cookie: 1, offset: 0, bytes: data, flags: CommandFlag.fua))
        try harness.send(Wire.request(Command.trim, flags: CommandFlag.fua, cookie: 2, offset: 0, length: 4096))
        try harness.send(
            Wire.request(
                Command.writeZeroes, flags: CommandFlag.fua | CommandFlag.noHole, cookie: 3, offset: 0, length: 4096))
        // FUA on FLUSH is valid ("valid for all commands") and accepted.
        try harness.send(Wire.request(Command.flush, flags: CommandFlag.fua, cookie: 4))
        #expect(
            harness.delegate.received == [
                .write(offset: 0, data: ByteBuffer(bytes: data), fua: true),
                .trim(offset: 0, length: 4096, fua: true),
                .writeZeroes(offset: 0, length: 4096, fua: true, noHole: true),
                .flush,
            ])
        for cookie in UInt64(1)...4 {
            #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: cookie, data: []))
        }
    }

    @Test func outOfRangeRequestsGetTheSpecErrorsWithoutReachingTheDelegate() throws {
        let harness = try Harness()
        try harness.negotiate()
        let size: UInt64 = 1 << 20
        let cases: [(ByteBuffer, UInt32)] = [
            (Wire.read(cookie: 1, offset: size, length: 4096), Self.einval),
            (Wire.read(cookie: 2, offset: size - 4096, length: 8192), Self.einval),
            (Wire.read(cookie: 3, offset: UInt64.max - 4095, length: 8192), Self.einval),
            (Wire.write(cookie: 4, offset: size - 4096, bytes: pattern(8192, seed: 0)), Self.enospc),
            (Wire.write(cookie: 5, offset: UInt64.max & ~4095, bytes: pattern(4096, seed: 0)), Self.enospc),
            (Wire.request(Command.trim, cookie: 6, offset: size, length: 4096), Self.einval),
            (Wire.request(Command.writeZeroes, cookie: 7, offset: size, length: 4096), Self.enospc),
            // Larger than the 32 MiB maximum block size.
            (Wire.read(cookie: 8, offset: 0, length: (32 << 20) + 4096), Self.einval),
            (Wire.request(Command.writeZeroes, cookie: 9, offset: 0, length: (32 << 20) + 4096), Self.einval),
        ]
        for (request, error) in cases {
            try harness.send(request)
            let reply = try harness.readSimpleReply()
            #expect(reply.error == error, "cookie \(reply.cookie)")
        }
        #expect(harness.delegate.received.isEmpty)
        #expect(harness.isOpen)
    }

    @Test func misalignedRequestsGetEinval() throws {
        let harness = try Harness()
        try harness.negotiate()
        let requests = [
            Wire.read(cookie: 1, offset: 512, length: 4096),
            Wire.read(cookie: 2, offset: 0, length: 512),
            Wire.write(cookie: 3, offset: 0, bytes: pattern(512, seed: 0)),
            Wire.write(cookie: 4, offset: 100, bytes: pattern(4096, seed: 0)),
            Wire.request(Command.trim, cookie: 5, offset: 4096, length: 1),
            Wire.request(Command.writeZeroes, cookie: 6, offset: 1, length: 4096),
        ]
        for request in requests {
            try harness.send(request)
            #expect(try harness.readSimpleReply().error == Self.einval)
        }
        #expect(harness.delegate.received.isEmpty)
        // A smaller configured minimum lets 512-byte requests through.
        let relaxed = try Harness(
            blockSizes: NBDBlockSizes(minimumBytes: 512, preferredBytes: 4096, maximumBytes: 32 << 20))
        try relaxed.negotiate()
        try relaxed.send(Wire.read(cookie: 1, offset: 512, length: 512))
        #expect(try relaxed.readSimpleReply(dataLength: 512).error == 0)
    }

    @Test func unknownCommandsAndFlagsGetEinval() throws {
        let harness = try Harness()
        try harness.negotiate()
        let requests = [
            Wire.request(Command.cache, cookie: 1, offset: 0, length: 4096),
            Wire.request(Command.blockStatus, cookie: 2, offset: 0, length: 4096),
            Wire.request(200, cookie: 3, offset: 0, length: 4096),
            // NO_HOLE is only valid on WRITE_ZEROES; DF needs structured replies; FAST_ZERO is not offered.
            Wire.write(cookie: 4, offset: 0, bytes: pattern(4096, seed: 0), flags: CommandFlag.noHole),
            Wire.read(cookie: 5, offset: 0, length: 4096, flags: CommandFlag.dontFragment),
            Wire.request(Command.writeZeroes, flags: CommandFlag.fastZero, cookie: 6, offset: 0, length: 4096),
            Wire.request(Command.flush, flags: 1 << 9, cookie: 7),
        ]
        for request in requests {
            try harness.send(request)
            #expect(try harness.readSimpleReply().error == Self.einval)
        }
        #expect(harness.delegate.received.isEmpty)
        // The stream stayed in sync: a normal request still works.
        try harness.send(Wire.request(Command.flush, cookie: 8))
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 8, data: []))
    }

    @Test func readOnlyExportRefusesWritesWithEperm() throws {
        let harness = try Harness()
        try harness.negotiate(export: "ro")
        let requests = [
            Wire.write(cookie: 1, offset: 0, bytes: pattern(4096, seed: 0)),
            Wire.request(Command.trim, cookie: 2, offset: 0, length: 4096),
            Wire.request(Command.writeZeroes, cookie: 3, offset: 0, length: 4096),
        ]
        for request in requests {
            try harness.send(request)
            #expect(try harness.readSimpleReply().error == Self.eperm)
        }
        // Reads and flushes still work.
        try harness.send(Wire.read(cookie: 4, offset: 0, length: 4096))
        #expect(try harness.readSimpleReply(dataLength: 4096).error == 0)
        try harness.send(Wire.request(Command.flush, cookie: 5))
        #expect(try harness.readSimpleReply().error == 0)
        #expect(harness.delegate.received == [.read(offset: 0, length: 4096), .flush])
    }

    @Test func zeroLengthRequestsSucceedWithoutTheDelegate() throws {
        let harness = try Harness()
        try harness.negotiate()
        try harness.send(Wire.read(cookie: 1, offset: 0, length: 0))
        try harness.send(Wire.write(cookie: 2, offset: 4096, bytes: []))
        try harness.send(Wire.request(Command.trim, cookie: 3, offset: 1 << 20, length: 0))
        for cookie in UInt64(1)...3 {
            #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: cookie, data: []))
        }
        #expect(harness.delegate.received.isEmpty)
    }

    @Test func wrongReadLengthFromTheDelegateBecomesEio() throws {
        let harness = try Harness()
        try harness.negotiate()
        harness.delegate.answerImmediately = false
        try harness.send(Wire.read(cookie: 1, offset: 0, length: 4096))
        try harness.send(Wire.read(cookie: 2, offset: 0, length: 4096))
        try harness.delegate.takeParked(at: 0).responder.succeed(data: ByteBuffer(bytes: [1, 2, 3]))
        try harness.delegate.takeParked(at: 0).responder.succeed()
        harness.runLoop()
        #expect(try harness.readSimpleReply() == SimpleReply(error: NBDError.eio.rawValue, cookie: 1, data: []))
        #expect(try harness.readSimpleReply() == SimpleReply(error: NBDError.eio.rawValue, cookie: 2, data: []))
        #expect(harness.isOpen)
    }

    @Test func writePayloadSplitAcrossReadsIsReassembled() throws {
        let harness = try Harness()
        try harness.negotiate()
        var request = Wire.write(cookie: 77, offset: 4096, bytes: pattern(12288, seed: 5))
        // Deliver in uneven pieces, including a split inside the header.
        for size in [3, 20, 1000, 5000] {
            try harness.send(try required(request.readSlice(length: size)))
            #expect(harness.delegate.received.isEmpty)
        }
        try harness.send(request)
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 77, data: []))
        #expect(harness.delegate.bytes(of: "disk0", at: 4096, count: 12288) == pattern(12288, seed: 5))
    }

    @Test func manyRepliesInOneTickAreFlushedTogether() throws {
        let harness = try Harness()
        try harness.negotiate()
        harness.delegate.answerImmediately = false
        var burst = ByteBuffer()
        for cookie in UInt64(0)..<32 {
            burst.writeImmutableBuffer(
                Wire.write(cookie: cookie, offset: cookie * 4096, bytes: pattern(4096, seed: UInt8(cookie))))
        }
        try harness.send(burst)
        #expect(harness.delegate.parkedCount == 32)
        // Answer them all without running the loop: nothing is flushed yet...
        while harness.delegate.parkedCount > 0 {
            harness.delegate.answerParked(at: harness.delegate.parkedCount - 1)
        }
        #expect(try harness.channel.readOutbound(as: ByteBuffer.self) == nil)
        // ...then one scheduled flush writes all 32 replies in a single buffer.
        harness.channel.embeddedEventLoop.run()
        let batch = try #require(try harness.channel.readOutbound(as: ByteBuffer.self))
        #expect(batch.readableBytes == 32 * 16)
        #expect(try harness.channel.readOutbound(as: ByteBuffer.self) == nil)
        harness.inbox.writeImmutableBuffer(batch)
        let cookies = try (0..<32).map { _ in try harness.readSimpleReply().cookie }
        #expect(cookies == Array((0..<32).reversed()))
    }
}
