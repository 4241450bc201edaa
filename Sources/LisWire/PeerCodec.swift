import Foundation
import LisCore
import NIOCore
import NIOFoundationCompat

/// Peer envelopes as frame bodies:
///
///     json length (u32) | the envelope as JSON | payload count (u16) | (length (u32) | bytes)*
///
/// The structure travels as JSON (readable in a capture, and every message type's fields come
/// from its `Codable` conformance, so a new field cannot be forgotten by the codec); block
/// contents travel beside it as raw bytes, not as JSON arrays. Doubles that are not finite
/// (a policy's "never" is infinity) are written as strings.
public enum PeerCodec {
    public static func encode(_ envelope: PeerEnvelope, allocator: ByteBufferAllocator = ByteBufferAllocator())
        throws(PeerFrameError) -> PeerFrame
    {
        let sink = Payloads()
        let json: Data
        do {
            let encoder = JSONEncoder()
            encoder.nonConformingFloatEncodingStrategy = .convertToString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            encoder.userInfo[.payloadBytes] = sink
            json = try encoder.encode(envelope)
        } catch {
            throw .malformedBody("cannot encode \(envelope.message): \(error)")
        }
        guard sink.list.count <= Int(UInt16.max) else { throw .malformedBody("too many payloads in one message") }
        var body = allocator.buffer(capacity: 6 + json.count + sink.list.reduce(0) { $0 + 4 + $1.count })
        body.writeInteger(UInt32(json.count))
        body.writeBytes(json)
        body.writeInteger(UInt16(sink.list.count))
        for bytes in sink.list {
            body.writeInteger(UInt32(bytes.count))
            body.writeBytes(bytes)
        }
        return PeerFrame(kind: .envelope, body: body)
    }

    public static func decode(_ frame: PeerFrame) throws(PeerFrameError) -> PeerEnvelope {
        guard frame.kind == .envelope else { throw .malformedBody("a \(frame.kind) frame is not a message") }
        var body = frame.body
        guard let jsonLength = body.readInteger(as: UInt32.self), let json = body.readBytes(length: Int(jsonLength))
        else { throw .malformedBody("the message is cut short") }
        guard let count = body.readInteger(as: UInt16.self) else { throw .malformedBody("no payload count") }
        let source = Payloads()
        for index in 0..<Int(count) {
            guard let length = body.readInteger(as: UInt32.self), let bytes = body.readBytes(length: Int(length)) else {
                throw .malformedBody("payload \(index) of \(count) is cut short")
            }
            source.list.append(bytes)
        }
        guard body.readableBytes == 0 else { throw .malformedBody("\(body.readableBytes) bytes after the last payload") }
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            decoder.userInfo[.payloadBytes] = source
            return try decoder.decode(PeerEnvelope.self, from: Data(json))
        } catch {
            throw .malformedBody("not a message: \(error)")
        }
    }

    /// The payloads of one message, in order. Used by one encode or decode call on one thread.
    private final class Payloads: PayloadBytesSink, PayloadBytesSource, @unchecked Sendable {
        var list: [[UInt8]] = []
        func add(_ bytes: [UInt8]) -> Int {
            list.append(bytes)
            return list.count - 1
        }
        func bytes(at index: Int) -> [UInt8]? { list.indices.contains(index) ? list[index] : nil }
    }
}

extension PeerMessage {
    /// A message that carries a block's image (a transfer, an install, a hand-over's claim):
    /// it travels on a peer's bulk connection, so it never delays the fences, accepts and acks
    /// of the control connection behind it.
    public var travelsInBulk: Bool {
        switch self {
        case .fenced(_, _, _, let transfer, _, _): transfer != nil
        case .transferReply, .install: true
        case .handOver(_, .claimed(_, _, let transfer, _), _, _): transfer != nil
        default: false
        }
    }
}
