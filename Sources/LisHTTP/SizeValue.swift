/// A size in a request body: a JSON number of bytes (`1073741824`) or a string for people
/// (`"1GiB"`, `"20G"`, `"4096"`), read by `ByteSize.parse`. Both are accepted because scripts
/// compute bytes and people type units.
public enum SizeValue: Codable, Sendable, Equatable, CustomStringConvertible,
    ExpressibleByIntegerLiteral, ExpressibleByStringLiteral
{
    case bytes(UInt64)
    case text(String)

    public init(integerLiteral value: UInt64) { self = .bytes(value) }
    public init(stringLiteral value: String) { self = .text(value) }

    /// What a size may look like, for error messages.
    public static let expected =
        #"a size: a number of bytes (1073741824) or a string with K, M, G, T or KiB, MiB, GiB, TiB ("20G", "1GiB")"#

    public init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer()
        if let bytes = try? value.decode(UInt64.self) {
            self = .bytes(bytes)
        } else if let text = try? value.decode(String.self) {
            self = .text(text)
        } else {
            throw DecodingError.typeMismatch(
                SizeValue.self, .init(codingPath: decoder.codingPath, debugDescription: Self.expected))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var value = encoder.singleValueContainer()
        switch self {
        case .bytes(let bytes): try value.encode(bytes)
        case .text(let text): try value.encode(text)
        }
    }

    /// As the user wrote it: the number, or the string in quotes.
    public var description: String {
        switch self {
        case .bytes(let bytes): String(bytes)
        case .text(let text): "\"\(text)\""
        }
    }
}
