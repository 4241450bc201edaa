import Foundation
import Hummingbird

/// JSON responses with sorted keys, so the same value always gives the same bytes.
enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Decision records may hold an infinite number (a rule's "never").
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var bytes: Data
        var status = status
        do {
            bytes = try encoder.encode(value)
        } catch {
            // The API's types hold only strings, numbers and arrays of them: this is a bug.
            bytes = Data(#"{"error":"internal error: cannot encode the response"}"#.utf8)
            status = .internalServerError
        }
        bytes.append(0x0A)  // a final newline, for curl users
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
