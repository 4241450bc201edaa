import NIOCore
import Testing

@testable import LisNBD

/// The protocol rules, called directly on the state machine and decoder (no channel).
@Suite("State machine")
struct StateMachineTests {
    struct Catalog: NBDExportCatalog {
        var exports = [NBDExport(name: "a", sizeBytes: 1 << 16)]
        func listExports() -> [NBDExport] { self.exports }
        func export(named name: String) -> NBDExport? { self.exports.first { $0.name == name } }
    }

    func machineInTransmission(structured: Bool = false, limits: NBDServerLimits = .standard) -> NBDServerStateMachine {
        var machine = NBDServerStateMachine(limits: limits)
        _ = machine.connectionStarted()
        _ = machine.receivedClientFlags(3)
        if structured {
            _ = machine.receivedOption(code: NBDProtocol.Option.structuredReply, data: ByteBuffer(), catalog: Catalog())
        }
        _ = machine.receivedOption(code: NBDProtocol.Option.go, data: Wire.infoData(name: "a"), catalog: Catalog())
        return machine
    }

    @Test func handshakeProgressesThroughPhases() {
        var machine = NBDServerStateMachine()
        #expect(machine.nextFrame == nil)
        #expect(machine.connectionStarted() == .send([.greeting(handshakeFlags: 3)]))
        #expect(machine.nextFrame == .clientFlags)
        #expect(machine.receivedClientFlags(1) == .none)
        #expect(machine.nextFrame == .option)
        #expect(!machine.noZeroes)
        let action = machine.receivedOption(
            code: NBDProtocol.Option.exportName, data: ByteBuffer(string: "a"), catalog: Catalog())
        #expect(action == .send([.exportNameReply(sizeBytes: 1 << 16, transmissionFlags: 0x6D, zeroPadding: true)]))
        #expect(machine.phase == .transmission)
        #expect(machine.nextFrame == .request)
    }

    @Test func goRecordsTheBlockSizeRequest() {
        var machine = NBDServerStateMachine()
        _ = machine.connectionStarted()
        _ = machine.receivedClientFlags(3)
        _ = machine.receivedOption(
            code: NBDProtocol.Option.go, data: Wire.infoData(name: "a", requests: [3, 77]), catalog: Catalog())
        #expect(machine.clientRequestedBlockSizes)
        #expect(machine.export?.name == "a")
    }

    @Test func validationOrderFlagsThenReadOnlyThenRangeThenAlignment() {
        let machine = self.machineInTransmission()
        let readOnly = NBDExport(name: "r", sizeBytes: 8192, readOnly: true)
        func write(flags: UInt16 = 0, offset: UInt64, length: UInt32) -> NBDRequest {
            NBDRequest(
                flags: flags, type: NBDProtocol.Command.write, cookie: 1, offset: offset, length: length,
                payload: ByteBuffer(bytes: [UInt8](repeating: 0, count: Int(length))))
        }
        #expect(machine.validate(write(flags: 2, offset: 1 << 40, length: 1), export: readOnly) == .failure(.einval))
        #expect(machine.validate(write(offset: 1 << 40, length: 1), export: readOnly) == .failure(.eperm))
        let writable = NBDExport(name: "w", sizeBytes: 8192)
        #expect(machine.validate(write(offset: 4097, length: 8192), export: writable) == .failure(.enospc))
        #expect(machine.validate(write(offset: 1, length: 4096), export: writable) == .failure(.einval))
        #expect(
            machine.validate(write(offset: 4096, length: 4096), export: writable).map { $0 != nil } == .success(true))
    }

    @Test func completionsAreCountedExactlyOnce() throws {
        var machine = self.machineInTransmission(limits: NBDServerLimits(inFlightRequestsMaximum: 1))
        let action = machine.receivedRequest(
            NBDRequest(flags: 0, type: NBDProtocol.Command.read, cookie: 9, offset: 0, length: 4096))
        guard case .dispatch(.read(0, 4096), _, let token) = action else {
            Issue.record("expected dispatch, got \(action)")
            return
        }
        #expect(machine.nextFrame == nil)  // At the in-flight bound.
        #expect(machine.inFlightBytes == 4096)
        let data = ByteBuffer(bytes: [UInt8](repeating: 7, count: 4096))
        #expect(
            machine.commandCompleted(token, .success(data))
                == .reply(NBDReply(cookie: 9, body: .simpleRead(data)), thenClose: false))
        #expect(machine.commandCompleted(token, .success(data)) == .ignore)
        #expect(machine.inFlightBytes == 0)
        #expect(machine.nextFrame == .request)
    }

    @Test func structuredRepliesShapeReadsAndErrors() throws {
        var machine = self.machineInTransmission(structured: true)
        let action = machine.receivedRequest(
            NBDRequest(
                flags: NBDProtocol.CommandFlag.dontFragment, type: NBDProtocol.Command.read, cookie: 1, offset: 4096,
                length: 4096))
        guard case .dispatch(_, _, let token) = action else {
            Issue.record("expected dispatch, got \(action)")
            return
        }
        let data = ByteBuffer(bytes: [UInt8](repeating: 1, count: 4096))
        #expect(
            machine.commandCompleted(token, .success(data))
                == .reply(NBDReply(cookie: 1, body: .structuredData(offset: 4096, data: data)), thenClose: false))
        #expect(
            machine.receivedRequest(NBDRequest(flags: 0, type: 99, cookie: 2, offset: 0, length: 0))
                == .reply(NBDReply(cookie: 2, body: .structuredError(.einval))))
    }

    @Test func shutdownDuringHandshakeClosesAndInTransmissionDrains() {
        var handshaking = NBDServerStateMachine()
        _ = handshaking.connectionStarted()
        #expect(handshaking.shutdownRequested() == .close)

        var busy = self.machineInTransmission()
        let action = busy.receivedRequest(
            NBDRequest(flags: 0, type: NBDProtocol.Command.flush, cookie: 1, offset: 0, length: 0))
        guard case .dispatch(_, _, let token) = action else {
            Issue.record("expected dispatch")
            return
        }
        #expect(busy.shutdownRequested() == .drain)
        #expect(
            busy.receivedRequest(NBDRequest(flags: 0, type: NBDProtocol.Command.flush, cookie: 2, offset: 0, length: 0))
                == .reply(NBDReply(cookie: 2, body: .simple(.eshutdown))))
        #expect(
            busy.commandCompleted(token, .success(nil))
                == .reply(NBDReply(cookie: 1, body: .simple(nil)), thenClose: true))
        #expect(busy.phase == .closed)
    }

    @Test func decoderWaitsForCompleteFramesAndRejectsBadOnes() {
        let limits = NBDFrameDecoder.Limits(optionDataMaximumBytes: 16, writePayloadMaximumBytes: 4096)
        var partial = Wire.write(cookie: 1, offset: 0, bytes: [UInt8](repeating: 1, count: 100))
        partial.moveWriterIndex(to: partial.writerIndex - 1)
        let before = partial.readerIndex
        #expect(NBDFrameDecoder.decode(.request, from: &partial, limits: limits) == .needMoreData)
        #expect(partial.readerIndex == before)

        var big = Wire.request(NBDProtocol.Command.write, cookie: 1, length: 4097)
        guard case .invalid = NBDFrameDecoder.decode(.request, from: &big, limits: limits) else {
            Issue.record("oversized WRITE must be invalid")
            return
        }
        var bigOption = Wire.option(1, ByteBuffer(bytes: [UInt8](repeating: 0, count: 17)))
        guard case .invalid = NBDFrameDecoder.decode(.option, from: &bigOption, limits: limits) else {
            Issue.record("oversized option must be invalid")
            return
        }
        // A large READ has no payload, so its length is not a decoder concern.
        var read = Wire.read(cookie: 1, offset: 0, length: .max)
        #expect(
            NBDFrameDecoder.decode(.request, from: &read, limits: limits)
                == .frame(.request(NBDRequest(flags: 0, type: 0, cookie: 1, offset: 0, length: .max))))
    }

    @Test func blockSizesAreValidated() {
        #expect(throws: NBDBlockSizes.Invalid.self) {
            try NBDBlockSizes(minimumBytes: 3000, preferredBytes: 4096, maximumBytes: 1 << 20)
        }
        #expect(throws: NBDBlockSizes.Invalid.self) {
            try NBDBlockSizes(minimumBytes: 4096, preferredBytes: 2048, maximumBytes: 1 << 20)
        }
        #expect(throws: NBDBlockSizes.Invalid.self) {
            try NBDBlockSizes(minimumBytes: 4096, preferredBytes: 4096, maximumBytes: 5000)
        }
        #expect(throws: Never.self) {
            try NBDBlockSizes(minimumBytes: 512, preferredBytes: 4096, maximumBytes: 32 << 20)
        }
    }
}
