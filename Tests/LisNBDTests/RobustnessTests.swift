import NIOCore
import Testing

@testable import LisNBD

/// Hostile or broken input closes that connection only, and never traps.
@Suite("Robustness")
struct RobustnessTests {
    @Test func unknownClientFlagsClose() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        harness.sendIgnoringClose(Wire.clientFlags(1 << 5))
        #expect(!harness.isOpen)
        #expect(harness.registry.openConnections == 0)
    }

    @Test func garbageInsteadOfAnOptionCloses() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(1))
        harness.sendIgnoringClose(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(!harness.isOpen)
        #expect(harness.inbox.readableBytes == 0)
    }

    @Test func badRequestMagicCloses() throws {
        let harness = try Harness()
        try harness.negotiate()
        var request = Wire.read(cookie: 1, offset: 0, length: 4096)
        request.setInteger(UInt32(0x1234_5678), at: request.readerIndex)
        harness.sendIgnoringClose(request)
        #expect(!harness.isOpen)
        #expect(harness.delegate.received.isEmpty)
    }

    @Test func oversizedOptionCloses() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(1))
        // Only the header: the server must not wait to buffer 64 KiB + 1.
        var header = ByteBuffer()
        header.writeInteger(NBDProtocol.optionMagic)
        header.writeInteger(NBDProtocol.Option.go)
        header.writeInteger(UInt32((64 << 10) + 1))
        harness.sendIgnoringClose(header)
        #expect(!harness.isOpen)
    }

    @Test func oversizedWriteCloses() throws {
        let harness = try Harness()
        try harness.negotiate()
        // Header only, announcing 32 MiB + 4 KiB of payload.
        harness.sendIgnoringClose(
            Wire.request(NBDProtocol.Command.write, cookie: 1, offset: 0, length: (32 << 20) + 4096))
        #expect(!harness.isOpen)
        #expect(harness.delegate.received.isEmpty)
    }

    @Test func tooManyOptionsClose() throws {
        let harness = try Harness(limits: NBDServerLimits(optionsMaximum: 3))
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(1))
        for _ in 0..<3 {
            try harness.send(Wire.option(NBDProtocol.Option.list))
        }
        #expect(harness.isOpen)
        harness.sendIgnoringClose(Wire.option(NBDProtocol.Option.list))
        #expect(!harness.isOpen)
    }

    @Test func truncatedHandshakeThenEOFClosesQuietly() throws {
        let harness = try Harness()
        _ = try harness.readGreeting()
        try harness.send(Wire.clientFlags(1))
        var partial = Wire.option(NBDProtocol.Option.go, Wire.infoData(name: "disk0"))
        try harness.send(try required(partial.readSlice(length: 10)))
        #expect(harness.isOpen)
        #expect(harness.inbox.readableBytes == 0)
        try harness.channel.close().wait()
        #expect(harness.registry.openConnections == 0)
    }

    @Test func eofInTheMiddleOfAWriteClosesQuietly() throws {
        let harness = try Harness()
        try harness.negotiate()
        var request = Wire.write(cookie: 1, offset: 0, bytes: pattern(8192, seed: 1))
        try harness.send(try required(request.readSlice(length: 100)))
        try harness.channel.close().wait()
        #expect(harness.delegate.received.isEmpty)
        #expect(harness.registry.openConnections == 0)
    }

    @Test func aBrokenConnectionDoesNotAffectAnother() throws {
        let registry = NBDConnectionRegistry()
        let delegate = MemoryDelegate()
        let good = try Harness(delegate: delegate, registry: registry)
        let bad = try Harness(delegate: delegate, registry: registry)
        try good.negotiate()
        try bad.negotiate()
        bad.sendIgnoringClose(ByteBuffer(bytes: [UInt8](repeating: 0xAB, count: 64)))
        #expect(!bad.isOpen)
        try good.send(Wire.write(cookie: 1, offset: 0, bytes: pattern(4096, seed: 2)))
        #expect(try good.readSimpleReply() == SimpleReply(error: 0, cookie: 1, data: []))
        #expect(registry.openConnections == 1)
    }

    /// Seeded random byte streams, cut into random reads, after a valid or partial handshake.
    /// The server must either keep going or close; it must never trap. A failure prints the seed.
    @Test(arguments: 0..<64)
    func randomInputNeverTraps(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let harness = try Harness()
        let phase = random.next() % 3
        if phase >= 1 {
            _ = try harness.readGreeting()
            try harness.send(Wire.clientFlags(UInt32(random.next() % 4)))
        }
        if phase == 2, harness.isOpen {
            try harness.send(Wire.option(NBDProtocol.Option.go, Wire.infoData(name: "disk0")))
        }
        for _ in 0..<20 where harness.isOpen {
            var bytes = [UInt8]()
            let count = Int(random.next() % 64)
            for _ in 0..<count {
                bytes.append(UInt8(truncatingIfNeeded: random.next()))
            }
            // Sometimes start with a valid magic so the parser goes deeper than the first check.
            if random.next() % 2 == 0 {
                var prefix = ByteBuffer()
                if phase == 2 {
                    prefix.writeInteger(NBDProtocol.requestMagic)
                } else {
                    prefix.writeInteger(NBDProtocol.optionMagic)
                }
                bytes = Array(prefix.readableBytesView) + bytes
            }
            harness.sendIgnoringClose(ByteBuffer(bytes: bytes))
        }
        // Reaching here without a trap is the property; the registry stays consistent.
        #expect(harness.registry.openConnections == (harness.isOpen ? 1 : 0), "seed \(seed)")
    }
}

/// A tiny seeded generator so a failing random test replays exactly.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
