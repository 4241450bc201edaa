import NIOCore
import Testing

@testable import LisNBD

/// The byte stream may be cut anywhere by the transport. A seeded mix of requests, cut into
/// random read sizes, must give the same replies and the same disk contents as a simple model.
@Suite("Reassembly")
struct ReassemblyTests {
    @Test(arguments: 0..<24)
    func randomlyChunkedStreamsMatchAReferenceModel(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let harness = try Harness()
        _ = try harness.readGreeting()
        let structured = random.next() % 2 == 0

        var stream = Wire.clientFlags(NBDProtocol.ClientFlag.fixedNewstyle | NBDProtocol.ClientFlag.noZeroes)
        if structured {
            stream.writeImmutableBuffer(Wire.option(NBDProtocol.Option.structuredReply))
        }
        stream.writeImmutableBuffer(Wire.option(NBDProtocol.Option.go, Wire.infoData(name: "disk0")))

        // The model: what the disk holds, and the reply each request expects.
        let blockCount = UInt64(1 << 20) / 4096
        var model = [UInt8](repeating: 0, count: 1 << 20)
        var expected: [(cookie: UInt64, readData: [UInt8]?)] = []
        for cookie in UInt64(1)...60 {
            let offset = (random.next() % (blockCount - 16)) * 4096
            let length = Int(1 + random.next() % 16) * 4096
            switch random.next() % 4 {
            case 0, 1:
                let bytes = pattern(length, seed: UInt8(truncatingIfNeeded: cookie))
                stream.writeImmutableBuffer(Wire.write(cookie: cookie, offset: offset, bytes: bytes))
                model.replaceSubrange(Int(offset)..<Int(offset) + length, with: bytes)
                expected.append((cookie, nil))
            case 2:
                stream.writeImmutableBuffer(Wire.read(cookie: cookie, offset: offset, length: UInt32(length)))
                expected.append((cookie, Array(model[Int(offset)..<Int(offset) + length])))
            default:
                stream.writeImmutableBuffer(Wire.request(NBDProtocol.Command.flush, cookie: cookie))
                expected.append((cookie, nil))
            }
        }

        while stream.readableBytes > 0 {
            let size = min(stream.readableBytes, Int(1 + random.next() % 9000))
            try harness.send(try required(stream.readSlice(length: size)))
        }

        if structured {
            #expect(try harness.readOptionReply().type == NBDProtocol.OptionReplyType.ack)
        }
        while try harness.readOptionReply().type != NBDProtocol.OptionReplyType.ack {}
        for (cookie, readData) in expected {
            if let readData, structured {
                let chunk = try harness.readChunk()
                #expect(chunk.cookie == cookie, "seed \(seed)")
                #expect(Array(chunk.payload.dropFirst(8)) == readData, "seed \(seed) cookie \(cookie)")
            } else {
                let reply = try harness.readSimpleReply(dataLength: readData?.count ?? 0)
                #expect(reply == SimpleReply(error: 0, cookie: cookie, data: readData ?? []), "seed \(seed)")
            }
        }
        #expect(harness.inbox.readableBytes == 0)
        #expect(harness.delegate.bytes(of: "disk0", at: 0, count: 1 << 20) == model, "seed \(seed)")
    }
}
