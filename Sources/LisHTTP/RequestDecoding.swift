import Foundation
import Hummingbird

/// Reads a JSON request body into a request type, turning every way it can be wrong into a 400
/// whose message names the field and shows the body that is expected.
enum RequestDecoding {
    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer, expected shape: String)
        throws(APIError) -> T
    {
        let data = Data(buffer.readableBytesView)
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw .badRequest("the request body is empty; expected a JSON object: \(shape)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as UnknownField {
            throw .badRequest(
                "unknown field \"\(error.name)\"; the fields are \(error.known.joined(separator: ", ")): \(shape)")
        } catch DecodingError.keyNotFound(let key, let context) {
            let field = path(context.codingPath + [key])
            throw .badRequest("missing field \"\(field)\"; expected \(shape)")
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            throw .badRequest("the request body must be a JSON object: \(shape)")
        } catch DecodingError.typeMismatch(let type, let context) {
            throw .badRequest("field \"\(path(context.codingPath))\" must be \(describe(type, context)); expected \(shape)")
        } catch DecodingError.valueNotFound(let type, let context) {
            // JSON null for a required field.
            throw .badRequest("field \"\(path(context.codingPath))\" must be \(describe(type, context)), not null; expected \(shape)")
        } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
            throw .badRequest("field \"\(path(context.codingPath))\" is not valid: \(context.debugDescription); expected \(shape)")
        } catch {
            throw .badRequest("the request body is not valid JSON; expected \(shape)")
        }
    }

    /// `allowed_regions[1]` style, as the user wrote the body.
    private static func path(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text
    }

    private static func describe(_ type: Any.Type, _ context: DecodingError.Context) -> String {
        if type == SizeValue.self { return SizeValue.expected }
        if type == String.self { return "a string" }
        if type is [Any].Type || type == [String].self { return "an array of strings" }
        if type == UInt64.self || type == Int.self { return "a number" }
        return "a \(type)"
    }
}
