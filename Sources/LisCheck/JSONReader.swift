/// A small JSON reader (RFC 8259) over UTF-8 bytes: one value per call, no Foundation.
/// Nesting is bounded (`maxDepth`) so hostile input cannot exhaust the stack.
struct JSONReader {
    struct Failure: Error {
        var message: String
    }

    static let maxDepth = 64

    private let bytes: [UInt8]
    private var position = 0

    private init(_ text: Substring) {
        bytes = Array(text.utf8)
    }

    /// Parses `text` as exactly one JSON value (surrounding white space allowed).
    static func parse(_ text: Substring) throws(Failure) -> JSONValue {
        var reader = JSONReader(text)
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.position == reader.bytes.count else {
            throw reader.failure("unexpected text after the value")
        }
        return value
    }

    private func failure(_ message: String) -> Failure {
        Failure(message: "\(message) (at column \(position + 1))")
    }

    private mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private mutating func value(depth: Int) throws(Failure) -> JSONValue {
        guard depth < Self.maxDepth else { throw failure("nested deeper than \(Self.maxDepth) levels") }
        skipWhitespace()
        guard position < bytes.count else { throw failure("unexpected end of line, expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            position += 1
            var members: [String: JSONValue] = [:]
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure("expected a key in quotes") }
                let key = try string()
                skipWhitespace()
                try expect(UInt8(ascii: ":"), "expected ':' after the key \"\(key)\"")
                let member = try value(depth: depth + 1)
                guard members.updateValue(member, forKey: key) == nil else { throw failure("duplicate key \"\(key)\"") }
                skipWhitespace()
                if try endOfList(UInt8(ascii: "}")) { return .object(members) }
            }
        case UInt8(ascii: "["):
            position += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                if try endOfList(UInt8(ascii: "]")) { return .array(elements) }
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try number())
        default:
            for (word, literal) in [("null", JSONValue.null), ("true", .bool(true)), ("false", .bool(false))] {
                let utf8 = Array(word.utf8)
                if bytes[position...].starts(with: utf8) {
                    position += utf8.count
                    return literal
                }
            }
            throw failure("expected a value")
        }
    }

    private mutating func expect(_ byte: UInt8, _ message: String) throws(Failure) {
        guard position < bytes.count, bytes[position] == byte else { throw failure(message) }
        position += 1
    }

    /// After a member or element: `true` at the closing bracket, `false` after a comma.
    private mutating func endOfList(_ closing: UInt8) throws(Failure) -> Bool {
        guard position < bytes.count else { throw failure("unexpected end of line, expected ',' or '\(Character(Unicode.Scalar(closing)))'") }
        let byte = bytes[position]
        position += 1
        if byte == closing { return true }
        if byte == UInt8(ascii: ",") { return false }
        position -= 1
        throw failure("expected ',' or '\(Character(Unicode.Scalar(closing)))'")
    }

    private mutating func number() throws(Failure) -> String {
        let start = position
        func digits() -> Int {
            let from = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
            return position - from
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        let integerStart = position
        let integerDigits = digits()
        guard integerDigits > 0 else { throw failure("expected digits in a number") }
        guard integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else { throw failure("a number must not start with 0") }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { throw failure("expected digits after '.'") }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw failure("expected digits in the exponent") }
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// A string starting at the opening quote.
    private mutating func string() throws(Failure) -> String {
        position += 1
        var scalars = String.UnicodeScalarView()
        var chunkStart = position
        func flush() {
            scalars.append(contentsOf: String(decoding: bytes[chunkStart..<position], as: UTF8.self).unicodeScalars)
        }
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                flush()
                position += 1
                return String(scalars)
            }
            if byte < 0x20 { throw failure("control character in a string") }
            if byte != UInt8(ascii: "\\") {
                position += 1
                continue
            }
            flush()
            position += 1
            guard position < bytes.count else { break }
            let escaped = bytes[position]
            position += 1
            switch escaped {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code) {
                    guard bytes[position...].starts(with: Array("\\u".utf8)) else { throw failure("unpaired surrogate in \\u escape") }
                    position += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw failure("unpaired surrogate in \\u escape") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw failure("invalid \\u escape") }
                scalars.append(scalar)
            default:
                throw failure("invalid escape '\\\(Character(Unicode.Scalar(escaped)))'")
            }
            chunkStart = position
        }
        throw failure("unterminated string")
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard position + 4 <= bytes.count else { throw failure("expected 4 hex digits after \\u") }
        var code: UInt32 = 0
        for byte in bytes[position..<position + 4] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("expected 4 hex digits after \\u")
            }
            code = code << 4 | UInt32(digit)
        }
        position += 4
        return code
    }
}
