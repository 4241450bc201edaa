/// A history file that cannot be read: which line and what is wrong with it.
public struct HistoryParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The 1-based line number.
    public var line: Int
    /// What is wrong, in a sentence a user can act on.
    public var message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}

extension String {
    /// The lines of a text file with their 1-based numbers, split at every `\n` byte (so a
    /// `\r\n` pair, one `Character` in Swift, still ends a line); a `\r` before it is dropped.
    var numberedLines: [(number: Int, text: Substring)] {
        var result: [(Int, Substring)] = []
        var start = utf8.startIndex
        var index = start
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: "\n") {
                result.append((result.count + 1, Self.withoutCarriageReturn(self[start..<index])))
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        result.append((result.count + 1, Self.withoutCarriageReturn(self[start..<utf8.endIndex])))
        return result
    }

    private static func withoutCarriageReturn(_ line: Substring) -> Substring {
        line.utf8.last == UInt8(ascii: "\r") ? line[..<line.utf8.index(before: line.utf8.endIndex)] : line
    }
}
