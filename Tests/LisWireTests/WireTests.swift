import LisCore
import NIOCore
import Testing

@testable import LisWire

/// One sample of every peer message, with fields at their extremes where they have any.
enum Samples {
    static let key = BlockKey(VolumeName("vm-disk.0"), BlockID(UInt64.max))
    static let position = LogPosition(epoch: Epoch(UInt64.max), version: UInt64.max - 1)
    static let id = RequestID(origin: NodeID("sydney-1"), seq: 1 << 60)
    static let record = LeaseRecord(
        epoch: Epoch(7), holder: NodeID("london-2"), quorumRegions: [RegionID("london"), RegionID("nyc")],
        state: .stealing,
        lastActive: ActiveTerm(epoch: Epoch(6), holder: NodeID("nyc-1"), quorumRegions: [RegionID("nyc")]),
        stealerPosition: LogPosition(epoch: Epoch(5), version: 99))
    static let bytes = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    static let write = BlockWrite(offset: 4096, length: 4096, fua: true, data: .bytes(bytes), id: id)
    static let recent = [WriteRef(id: id, position: position)]
    static let reason = MoveReason.handedOver(
        by: NodeID("nyc-1"),
        .movesWith(
            BlockKey(VolumeName("v"), BlockID(3)),
            .adaptive(
                hereMs: 80.5, thereMs: 0.1, rates: [RegionRate(RegionID("sydney"), 12.25)], savingMs: .infinity,
                horizonMs: 3_600_000, costMs: 412.75)))

    static let messages: [PeerMessage] = [
        .forward(ForwardedOp(id: id, key: key, op: .write(write))),
        .forward(ForwardedOp(id: id, key: key, op: .read(offset: 0, length: 1 << 20))),
        .forwardReply(id, .written(position)),
        .forwardReply(id, .read(.bytes(bytes))),
        .forwardReply(id, .read(.zeros)),
        .forwardReply(id, .redirect(record)),
        .forwardReply(id, .redirect(nil)),
        .forwardReply(id, .failed(.outOfRange)),
        .accept(key, position: position, previous: .empty, write: write),
        .accepted(key, position: position, ok: false, promised: Epoch(9)),
        .fence(key, epoch: Epoch(8), have: position),
        .fenced(key, epoch: Epoch(8), position: position, transfer: .bytes(bytes), refusedFor: nil, recent: recent),
        .fenced(key, epoch: Epoch(8), position: position, transfer: nil, refusedFor: Epoch(10)),
        .transferRequest(key, epoch: Epoch(8), have: .empty, upTo: position),
        .transferReply(key, epoch: Epoch(8), transfer: .bytes([]), upTo: position),
        .install(key, epoch: Epoch(8), transfer: .zeros, after: .empty, upTo: position, recent: recent),
        .installed(key, epoch: Epoch(8), ok: true, promised: Epoch(8), position: position),
        .probeCopy(key, epoch: Epoch(3)),
        .copyAt(key, epoch: Epoch(3), position: position, promised: Epoch(3)),
        .replicate(key, position: position, previous: LogPosition(epoch: Epoch(1), version: 2), write: write),
        .readCheck(key, epoch: Epoch(2), nonce: UInt64.max),
        .readChecked(key, epoch: Epoch(2), nonce: 0, ok: true),
        .flush(42, [FlushItem(key: key, write: recent[0])]),
        .flushed(
            42,
            [
                FlushVerdict(item: FlushItem(key: key, write: recent[0]), outcome: .durable),
                FlushVerdict(item: FlushItem(key: key, write: recent[0]), outcome: .lost),
                FlushVerdict(item: FlushItem(key: key, write: recent[0]), outcome: .redirect(record)),
            ]),
        .syncCopies([key, BlockKey(VolumeName("w"), BlockID(0))]),
        .copiesSynced([SyncedCopy(key: key, position: position)]),
        .handOver(key, .steal(epoch: Epoch(4)), reason: reason, rates: RegionRates()),
        .handOver(
            key, .claimed(record, position: position, transfer: .bytes(bytes), recent: recent),
            reason: .prediction(minuteOfDay: 1439, daysAgo: 1), rates: RegionRates()),
        .handOver(key, .steal(epoch: Epoch(5)), reason: .operatorMove(via: NodeID("nyc-1")), rates: RegionRates()),
        .takeBlocks([key, BlockKey(VolumeName("w"), BlockID(9))]),
        .ping(7),
        .pong(7, rtts: [RegionRtt(RegionID("london"), ms: 75.25)], hiveMs: nil),
        .pong(8, rtts: [], hiveMs: 0.3),
    ]

    /// The case's name. Exhaustive: a new message case does not compile until it has a
    /// sample here.
    static func name(_ message: PeerMessage) -> String {
        switch message {
        case .forward: "forward"
        case .forwardReply: "forwardReply"
        case .accept: "accept"
        case .accepted: "accepted"
        case .fence: "fence"
        case .fenced: "fenced"
        case .transferRequest: "transferRequest"
        case .transferReply: "transferReply"
        case .install: "install"
        case .installed: "installed"
        case .probeCopy: "probeCopy"
        case .copyAt: "copyAt"
        case .replicate: "replicate"
        case .readCheck: "readCheck"
        case .readChecked: "readChecked"
        case .flush: "flush"
        case .flushed: "flushed"
        case .syncCopies: "syncCopies"
        case .copiesSynced: "copiesSynced"
        case .handOver: "handOver"
        case .takeBlocks: "takeBlocks"
        case .ping: "ping"
        case .pong: "pong"
        }
    }
    static let caseCount = 23
}

@Suite struct PeerCodecTests {
    @Test func everyMessageRoundTrips() throws {
        #expect(Set(Samples.messages.map(Samples.name)).count == Samples.caseCount)
        for (i, message) in Samples.messages.enumerated() {
            let envelope = PeerEnvelope(
                from: NodeID("n\(i)"), hlc: HLCTimestamp(physicalMs: Int64.max, logical: UInt32.max), message: message)
            let frame = try PeerCodec.encode(envelope)
            var buffer = ByteBuffer()
            frame.write(to: &buffer)
            let read = try #require(try PeerFrame.read(from: &buffer))
            #expect(buffer.readableBytes == 0)
            #expect(try PeerCodec.decode(read) == envelope, "\(Samples.name(message))")
        }
    }

    /// Block bytes travel raw beside the JSON, not as a JSON array of numbers.
    @Test func blockBytesTravelRaw() throws {
        let envelope = PeerEnvelope(
            from: NodeID("a"), hlc: .zero,
            message: .accept(Samples.key, position: Samples.position, previous: .empty, write: Samples.write))
        let frame = try PeerCodec.encode(envelope)
        #expect(frame.body.readableBytes < Samples.bytes.count + 1024)
    }

    @Test func unresolvedPayloadsAreNotSent() {
        let write = BlockWrite(offset: 0, length: 512, data: .external(3))
        let envelope = PeerEnvelope(
            from: NodeID("a"), hlc: .zero, message: .accept(Samples.key, position: Samples.position, previous: .empty, write: write))
        #expect(throws: PeerFrameError.self) { try PeerCodec.encode(envelope) }
    }

    @Test func damagedBodiesAreTypedErrors() throws {
        let envelope = PeerEnvelope(from: NodeID("a"), hlc: .zero, message: Samples.messages[0])
        let good = try PeerCodec.encode(envelope).body
        // Every truncation, and trailing bytes.
        for cut in 0..<good.readableBytes {
            let frame = PeerFrame(kind: .envelope, body: good.getSlice(at: good.readerIndex, length: cut)!)
            #expect(throws: PeerFrameError.self) { try PeerCodec.decode(frame) }
        }
        var longer = good
        longer.writeInteger(UInt8(0))
        #expect(throws: PeerFrameError.self) { try PeerCodec.decode(PeerFrame(kind: .envelope, body: longer)) }
        // A payload index the message does not carry.
        var json = ByteBuffer(string: #"{"from":"a","hlc":{"physicalMs":0,"logical":0},"message":{"forwardReply":{"_0":{"origin":"a","seq":1},"_1":{"read":{"_0":{"bytes":5}}}}}}"#)
        var body = ByteBuffer()
        body.writeInteger(UInt32(json.readableBytes))
        body.writeBuffer(&json)
        body.writeInteger(UInt16(0))
        let error = #expect(throws: PeerFrameError.self) { try PeerCodec.decode(PeerFrame(kind: .envelope, body: body)) }
        #expect(error?.description.contains("no payload 5") == true)
    }

    /// Random bytes and random damage to good frames never crash the decoder.
    @Test func randomInputNeverCrashes() throws {
        var random = SeededRandom(seed: 11)
        let goods = try Samples.messages.map { message in
            var buffer = ByteBuffer()
            try PeerCodec.encode(PeerEnvelope(from: NodeID("a"), hlc: .zero, message: message)).write(to: &buffer)
            return buffer
        }
        var decoded = 0
        for round in 0..<4000 {
            var buffer: ByteBuffer
            if round % 2 == 0 {
                buffer = ByteBuffer(bytes: (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
            } else {
                buffer = goods[Int(random.next() % UInt64(goods.count))]
                for _ in 0..<1 + Int(random.next() % 4) {
                    let at = buffer.readerIndex + Int(random.next() % UInt64(buffer.readableBytes))
                    buffer.setInteger(UInt8(truncatingIfNeeded: random.next()), at: at)
                }
            }
            do {
                while let frame = try PeerFrame.read(from: &buffer) {
                    if frame.kind == .envelope, (try? PeerCodec.decode(frame)) != nil { decoded += 1 }
                }
            } catch {
                // A typed error closes the connection; that is the expected outcome.
            }
        }
        // Some damage lands in payload bytes and leaves a valid message: the loop did decode.
        #expect(decoded > 0)
    }
}

@Suite struct PeerFrameTests {
    @Test func partialFramesWaitAndBadHeadersFail() throws {
        var whole = ByteBuffer()
        PeerFrame(kind: .proof, body: ByteBuffer(bytes: [1, 2, 3])).write(to: &whole)
        for cut in 0..<whole.readableBytes {
            var part = whole.getSlice(at: 0, length: cut)!
            #expect(try PeerFrame.read(from: &part) == nil)
            #expect(part.readableBytes == cut, "nothing is consumed from a partial frame")
        }
        var copy = whole
        #expect(try PeerFrame.read(from: &copy) == PeerFrame(kind: .proof, body: ByteBuffer(bytes: [1, 2, 3])))

        func error(_ edit: (inout ByteBuffer) -> Void) -> PeerFrameError? {
            var buffer = whole
            edit(&buffer)
            do {
                _ = try PeerFrame.read(from: &buffer)
                return nil
            } catch {
                return error
            }
        }
        #expect(error { $0.setInteger(UInt16(0x4745), at: 0) } == .badMagic(0x4745))  // "GE(T)"
        #expect(error { $0.setInteger(UInt8(2), at: 2) } == .unsupportedVersion(2))
        #expect(error { $0.setInteger(UInt8(0), at: 3) } == .unknownKind(0))
        #expect(error { $0.setInteger(UInt32.max, at: 4) } == .tooLarge(Int(UInt32.max), limit: PeerFrame.maxBodyBytes))
    }
}

@Suite struct PeerAuthTests {
    let secret = try! PeerSecret(Array("0123456789abcdef0123456789abcdef".utf8))

    @Test func bothSidesProveTheSecret() throws {
        let a = PeerHello.fresh(cluster: "c1", node: NodeID("a"), region: RegionID("nyc"))
        let b = PeerHello.fresh(cluster: "c1", node: NodeID("b"), region: RegionID("london"))
        #expect(try PeerHello(frame: a.frame) == a)
        #expect(a.nonce != b.nonce)
        #expect(secret.verify(secret.proof(by: b, for: a), prover: b, verifier: a))
        #expect(secret.verify(secret.proof(by: a, for: b), prover: a, verifier: b))
    }

    @Test func wrongSecretsReplaysAndReflectionsFail() throws {
        let a = PeerHello.fresh(cluster: "c1", node: NodeID("a"), region: RegionID("nyc"))
        let b = PeerHello.fresh(cluster: "c1", node: NodeID("b"), region: RegionID("london"))
        let other = try PeerSecret(Array("another secret of 32 bytes long!".utf8))
        #expect(!secret.verify(other.proof(by: b, for: a), prover: b, verifier: a))
        // A proof for an earlier nonce of a.
        let earlier = PeerHello.fresh(cluster: "c1", node: NodeID("a"), region: RegionID("nyc"))
        #expect(!secret.verify(secret.proof(by: b, for: earlier), prover: b, verifier: a))
        // A proof made for another node, claimed by b.
        let c = PeerHello(cluster: "c1", node: NodeID("c"), region: RegionID("london"), nonce: b.nonce)
        #expect(!secret.verify(secret.proof(by: c, for: a), prover: b, verifier: a))
        // a's own hello sent back to it.
        #expect(!secret.verify(secret.proof(by: a, for: a), prover: a, verifier: a))
        // Another cluster.
        let d = PeerHello(cluster: "c2", node: NodeID("b"), region: RegionID("london"), nonce: b.nonce)
        #expect(!secret.verify(secret.proof(by: d, for: a), prover: d, verifier: a))
        #expect(throws: PeerFrameError.self) { try PeerSecret(Array("short".utf8)) }
        #expect(throws: PeerFrameError.self) { try PeerHello(frame: PeerFrame(kind: .hello, body: ByteBuffer(string: "{}"))) }
    }
}

/// Discovery datagrams: sealed with the join secret, opened only with it, and anything else is
/// a typed error, never a crash.
@Suite struct DiscoveryTests {
    let codec = DiscoveryCodec(secret: try! PeerSecret(Array("0123456789abcdef0123456789abcdef".utf8)))
    let other = DiscoveryCodec(secret: try! PeerSecret(Array("another secret of 32 bytes long!".utf8)))

    func beacon(_ nonce: [UInt8]) -> Beacon {
        Beacon(
            nonce: nonce, cluster: "c1", node: NodeID("nyc-1"), region: RegionID("nyc"), peerAddress: "10.0.0.1:7781",
            hiveEndpoints: ["http://10.0.0.9:2379"], hivePrefix: "/lis/")
    }

    @Test func queriesAndBeaconsRoundTrip() throws {
        let nonce = DiscoveryCodec.freshNonce()
        #expect(nonce != DiscoveryCodec.freshNonce())
        for message in [DiscoveryMessage.query(nonce: nonce), .beacon(beacon(nonce))] {
            let datagram = codec.seal(message)
            #expect(datagram.count <= DiscoveryCodec.maxDatagramBytes)
            #expect(try codec.open(datagram) == message)
        }
    }

    @Test func anotherSecretTamperingAndGarbageAreRefused() {
        let sealed = codec.seal(.beacon(beacon(DiscoveryCodec.freshNonce())))
        #expect(throws: DiscoveryError.wrongSecret) { try other.open(sealed) }
        var tampered = sealed
        tampered[tampered.count - 3] ^= 1
        #expect(throws: DiscoveryError.wrongSecret) { try codec.open(tampered) }
        #expect(throws: DiscoveryError.self) { try codec.open([]) }
        #expect(throws: DiscoveryError.self) { try codec.open(Array("LD".utf8) + [9] + sealed.dropFirst(3)) }
        #expect(throws: DiscoveryError.tooLarge(2000)) { try codec.open([UInt8](repeating: 0, count: 2000)) }
        // A short nonce is refused even under a valid MAC.
        #expect(throws: DiscoveryError.self) { try codec.open(codec.seal(.query(nonce: [1, 2, 3]))) }
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let length = Int.random(in: 0...1500, using: &random)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            if length > 2, Bool.random(using: &random) { bytes[0] = 0x4C; bytes[1] = 0x44; bytes[2] = 1 }
            _ = try? codec.open(bytes)
        }
    }
}

/// Envelopes above 1 MiB travel in chunks and come back whole; chunks out of order, an envelope
/// in the middle of a chunked one, or pieces too large are errors.
@Suite struct ChunkTests {
    func envelope(_ bytes: Int) throws -> PeerFrame {
        let write = BlockWrite(offset: 0, length: UInt32(bytes), data: .bytes((0..<bytes).map { UInt8(truncatingIfNeeded: $0) }))
        return try PeerCodec.encode(
            PeerEnvelope(from: NodeID("a"), hlc: .zero, message: .accept(Samples.key, position: .empty, previous: .empty, write: write)))
    }

    @Test func largeEnvelopesSplitAndComeBackWhole() throws {
        #expect(PeerChunks.split(try envelope(1000)).map(\.kind) == [.envelope])
        for size in [PeerFrame.maxChunkBytes, 3 << 20, 64 << 20] {
            let frame = try envelope(size)
            let chunks = PeerChunks.split(frame)
            #expect(chunks.count == (frame.body.readableBytes + PeerFrame.maxChunkBytes - 1) / PeerFrame.maxChunkBytes)
            #expect(chunks.allSatisfy { $0.kind == .chunk && $0.body.readableBytes <= PeerFrame.maxFrameBodyBytes })
            var assembler = PeerChunks.Assembler()
            var whole: PeerFrame?
            for (i, chunk) in chunks.enumerated() {
                whole = try assembler.add(chunk)
                #expect((whole == nil) == (i < chunks.count - 1))
            }
            #expect(whole == frame && !assembler.isAssembling)
        }
    }

    @Test func chunksOutOfTurnAreErrors() throws {
        let chunks = PeerChunks.split(try envelope(3 << 20))
        var assembler = PeerChunks.Assembler()
        #expect(throws: PeerFrameError.self) { try assembler.add(chunks[1]) }
        assembler = PeerChunks.Assembler()
        _ = try assembler.add(chunks[0])
        #expect(throws: PeerFrameError.self) { try assembler.add(chunks[2]) }
        var oversized = ByteBuffer()
        oversized.writeInteger(UInt32(0))
        oversized.writeInteger(UInt32(2))
        oversized.writeBytes([UInt8](repeating: 1, count: PeerFrame.maxChunkBytes + 1))
        assembler = PeerChunks.Assembler()
        #expect(throws: PeerFrameError.self) { try assembler.add(PeerFrame(kind: .chunk, body: oversized)) }
        var many = ByteBuffer()
        many.writeInteger(UInt32(0))
        many.writeInteger(UInt32.max)
        many.writeBytes([1])
        #expect(throws: PeerFrameError.self) { try assembler.add(PeerFrame(kind: .chunk, body: many)) }
        #expect(throws: PeerFrameError.self) { try assembler.add(PeerFrame(kind: .chunk, body: ByteBuffer(bytes: [1, 2]))) }
    }
}
