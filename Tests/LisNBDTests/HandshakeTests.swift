import NIOCore
import Testing

@testable import LisNBD

@Suite("Handshake")
struct HandshakeTests {
    typealias Option = NBDProtocol.Option
    typealias ReplyType = NBDProtocol.OptionReplyType
    typealias Flag = NBDProtocol.TransmissionFlag

    @Test func greetingAdvertisesFixedNewstyleAndNoZeroes() throws {
        let harness = try Harness()
        let flags = try harness.readGreeting()
        #expect(flags == NBDProtocol.HandshakeFlag.fixedNewstyle | NBDProtocol.HandshakeFlag.noZeroes)
        #expect(harness.inbox.readableBytes == 0)
        #expect(harness.registry.openConnections == 1)
    }

    @Test func goWithBlockSizeRequestEntersTransmission() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle | NBDProtocol.ClientFlag.noZeroes))
        #expect(harness.inbox.readableBytes == 0)
        try harness.send(
            Wire.option(
                Option.go,
                Wire.infoData(
                    name: "disk0",
                    requests: [
                        NBDProtocol.InfoType.blockSize, NBDProtocol.InfoType.name, NBDProtocol.InfoType.description,
                    ])))

        let export = try harness.readOptionReply()
        #expect(export.option == Option.go)
        #expect(export.type == ReplyType.info)
        let expectedFlags =
            Flag.hasFlags | Flag.sendFlush | Flag.sendFUA | Flag.sendTrim | Flag.sendWriteZeroes
            | Flag.canMultiConn
        #expect(
            export.data
                == ByteBuffer.bigEndian {
                    $0.writeInteger(NBDProtocol.InfoType.export)
                    $0.writeInteger(UInt64(1 << 20))
                    $0.writeInteger(expectedFlags)
                })
        let blockSize = try harness.readOptionReply()
        #expect(
            blockSize.data
                == ByteBuffer.bigEndian {
                    $0.writeInteger(NBDProtocol.InfoType.blockSize)
                    $0.writeInteger(UInt32(4096))
                    $0.writeInteger(UInt32(4096))
                    $0.writeInteger(UInt32(32 << 20))
                })
        let name = try harness.readOptionReply()
        #expect(name.data == [0, 1] + Array("disk0".utf8))
        let description = try harness.readOptionReply()
        #expect(description.data == [0, 2] + Array("test disk".utf8))
        let ack = try harness.readOptionReply()
        #expect(ack == OptionReply(option: Option.go, type: ReplyType.ack, data: []))
        // No zero padding after GO.
        #expect(harness.inbox.readableBytes == 0)

        // Transmission works: a FLUSH gets a simple reply.
        try harness.send(Wire.request(NBDProtocol.Command.flush, cookie: 7))
        #expect(try harness.readSimpleReply() == SimpleReply(error: 0, cookie: 7, data: []))
        #expect(harness.delegate.received == [.flush])
    }

    @Test func goWithoutInfoRequestsStillSendsExportAndBlockSize() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle))
        try harness.send(Wire.option(Option.go, Wire.infoData(name: "disk0")))
        let types = try (0..<3).map { _ in try harness.readOptionReply() }.map { reply -> UInt32 in
            reply.type == ReplyType.info ? UInt32(reply.data[1]) : reply.type | 0x100
        }
        // INFO_EXPORT (0), INFO_BLOCK_SIZE (3), then ACK.
        #expect(types == [0, 3, ReplyType.ack | 0x100])
        #expect(harness.inbox.readableBytes == 0)
    }

    @Test(arguments: [true, false])
    func exportNameEntersTransmission(noZeroes: Bool) throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        let clientFlags = NBDProtocol.ClientFlag.fixedNewstyle | (noZeroes ? NBDProtocol.ClientFlag.noZeroes : 0)
        try harness.send(Wire.clientFlags(clientFlags))
        try harness.send(Wire.option(Option.exportName, ByteBuffer(string: "ro")))

        #expect(harness.inbox.readInteger(as: UInt64.self) == 64 << 10)
        let flags = try required(harness.inbox.readInteger(as: UInt16.self))
        #expect(flags & Flag.readOnly != 0)
        #expect(flags & Flag.canMultiConn == 0)
        #expect(flags & Flag.hasFlags != 0)
        if noZeroes {
            #expect(harness.inbox.readableBytes == 0)
        } else {
            #expect(harness.inbox.readBytes(length: 124) == [UInt8](repeating: 0, count: 124))
            #expect(harness.inbox.readableBytes == 0)
        }
        try harness.send(Wire.read(cookie: 1, offset: 0, length: 4096))
        #expect(try harness.readSimpleReply(dataLength: 4096).data == [UInt8](repeating: 0, count: 4096))
    }

    @Test func exportNameForUnknownExportCloses() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle))
        harness.sendIgnoringClose(Wire.option(Option.exportName, ByteBuffer(string: "nope")))
        #expect(!harness.isOpen)
        #expect(harness.inbox.readableBytes == 0)
        #expect(harness.registry.openConnections == 0)
    }

    @Test func listRepliesWithEveryExportThenAck() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle))
        try harness.send(Wire.option(Option.list))
        let first = try harness.readOptionReply()
        #expect(first.type == ReplyType.server)
        #expect(first.data == [0, 0, 0, 5] + Array("disk0".utf8))
        let second = try harness.readOptionReply()
        #expect(second.data == [0, 0, 0, 2] + Array("ro".utf8))
        #expect(try harness.readOptionReply() == OptionReply(option: Option.list, type: ReplyType.ack, data: []))

        // LIST with data is invalid, and the session continues.
        try harness.send(Wire.option(Option.list, ByteBuffer(string: "x")))
        #expect(try harness.readOptionReply().type == ReplyType.errInvalid)
        try harness.send(Wire.option(Option.go, Wire.infoData(name: "disk0")))
        #expect(try harness.readOptionReply().type == ReplyType.info)
    }

    @Test func infoForKnownExportDoesNotEnterTransmission() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle))
        try harness.send(Wire.option(Option.info, Wire.infoData(name: "ro", requests: [NBDProtocol.InfoType.name])))
        var replies: [OptionReply] = []
        repeat {
            replies.append(try harness.readOptionReply())
        } while replies.last?.type != ReplyType.ack
        #expect(replies.count == 4)  // EXPORT, BLOCK_SIZE, NAME, ACK
        #expect(replies.allSatisfy { $0.option == Option.info })
        // Still negotiating: another option is answered.
        try harness.send(Wire.option(Option.list))
        #expect(try harness.readOptionReply().type == ReplyType.server)
    }

    @Test func infoAndGoForUnknownExportReplyErrUnknown() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle))
        try harness.send(Wire.option(Option.info, Wire.infoData(name: "missing")))
        let info = try harness.readOptionReply()
        #expect(info.option == Option.info)
        #expect(info.type == ReplyType.errUnknown)
        try harness.send(Wire.option(Option.go, Wire.infoData(name: "missing")))
        #expect(try harness.readOptionReply().type == ReplyType.errUnknown)
        #expect(harness.inbox.readableBytes == 0)
        // The session continues and GO to a real export works.
        try harness.send(Wire.option(Option.go, Wire.infoData(name: "disk0")))
        #expect(try harness.readOptionReply().type == ReplyType.info)
    }

    @Test(arguments: [
        Option.startTLS, Option.listMetaContext, Option.setMetaContext, Option.extendedHeaders, 4, 99, 0xFFFF_FFFF,
    ])
    func unsupportedOptionsGetErrUnsupAndTheSessionContinues(option: UInt32) throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle))
        try harness.send(Wire.option(option, ByteBuffer(bytes: [1, 2, 3, 4, 5])))
        #expect(try harness.readOptionReply() == OptionReply(option: option, type: ReplyType.errUnsupported, data: []))
        try harness.send(Wire.option(Option.list))
        #expect(try harness.readOptionReply().type == ReplyType.server)
    }

    @Test func malformedInfoLengthsGetErrInvalid() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle))

        var nameTooLong = ByteBuffer()
        nameTooLong.writeInteger(UInt32(100))
        nameTooLong.writeString("disk0")
        nameTooLong.writeInteger(UInt16(0))
        var countMismatch = Wire.infoData(name: "disk0", requests: [3])
        countMismatch.moveWriterIndex(to: countMismatch.writerIndex - 1)
        let tooShort = ByteBuffer(bytes: [0, 0])

        for data in [nameTooLong, countMismatch, tooShort] {
            try harness.send(Wire.option(Option.go, data))
            #expect(try harness.readOptionReply().type == ReplyType.errInvalid)
        }
        #expect(harness.isOpen)
    }

    @Test func abortIsAcknowledgedThenClosed() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle))
        try harness.send(Wire.option(Option.abort))
        #expect(try harness.readOptionReply() == OptionReply(option: Option.abort, type: ReplyType.ack, data: []))
        #expect(!harness.isOpen)
        #expect(harness.registry.openConnections == 0)
    }

    @Test func structuredReplyNegotiationAndInvalidData() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle))
        try harness.send(Wire.option(Option.structuredReply, ByteBuffer(bytes: [0])))
        #expect(try harness.readOptionReply().type == ReplyType.errInvalid)
        try harness.send(Wire.option(Option.structuredReply))
        #expect(try harness.readOptionReply().type == ReplyType.ack)
        // SEND_DF is advertised only with structured replies.
        try harness.send(Wire.option(Option.go, Wire.infoData(name: "disk0")))
        var export = ByteBuffer(bytes: try harness.readOptionReply().data)
        export.moveReaderIndex(forwardBy: 10)
        #expect(try required(export.readInteger(as: UInt16.self)) & Flag.sendDF != 0)
    }

    @Test func allOptionsMayArriveInOneRead() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        var burst = Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle | NBDProtocol.ClientFlag.noZeroes)
        burst.writeImmutableBuffer(Wire.option(Option.structuredReply))
        burst.writeImmutableBuffer(Wire.option(Option.go, Wire.infoData(name: "disk0")))
        burst.writeImmutableBuffer(Wire.read(cookie: 9, offset: 4096, length: 4096))
        harness.delegate.fill("disk0", at: 4096, with: pattern(4096, seed: 3))
        try harness.send(burst)
        #expect(try harness.readOptionReply().type == ReplyType.ack)
        while try harness.readOptionReply().type != ReplyType.ack {}
        let chunk = try harness.readChunk()
        #expect(chunk.cookie == 9)
        #expect(Array(chunk.payload.dropFirst(8)) == pattern(4096, seed: 3))
    }
}
